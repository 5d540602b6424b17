"""`ddx7 resynth` and `ddx7 stream` on a saved checkpoint: audio in, audio out, clear errors."""

import numpy as np
import pytest
import soundfile as sf
import torch

from ddx7.atomic import torch_save
from ddx7.cli import main
from ddx7.models import DDX7
from ddx7.resynth import fill_unvoiced


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = DDX7("2osc", 2.0)
    path = tmp_path / "model.pt"
    torch_save({"config": model.config, "model": model.state_dict(), "extractor": "pyin"}, path)
    return path


@pytest.fixture
def voice(tmp_path):
    """A 1.5 s, 44.1 kHz stereo 'recording': a gliding harmonic tone."""
    sr = 44100
    t = np.arange(int(1.5 * sr)) / sr
    f0 = 220 * 2 ** (t / 1.5)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = 0.3 * (np.sin(phase) + 0.5 * np.sin(2 * phase))
    path = tmp_path / "voice.flac"
    sf.write(path, np.stack([x, 0.8 * x], 1), sr)
    return path


def test_resynth_writes_audio_that_follows_the_input_pitch(tmp_path, checkpoint, voice):
    out = tmp_path / "out.wav"
    assert main(["resynth", str(voice), "--checkpoint", str(checkpoint), "--pitch-shift", "12",
                 "--ratios", "1,2", "-o", str(out)]) == 0
    audio, sr = sf.read(out)
    assert sr == 16000 and len(audio) == 1.5 * 16000 and np.isfinite(audio).all() and audio.std() > 1e-4
    from ddx7.data.features import extract_f0
    f0, per = extract_f0(audio.astype(np.float32), method="pyin")
    voiced = per > 0.5
    # an octave up: 440 → 880 Hz over the excerpt (median of the voiced frames lies in between)
    assert 440 < np.median(f0[voiced]) < 900


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "missing.pt"], "not found"),
    (["--checkpoint", "CORRUPT"], "corrupt"),
    (["--checkpoint", "CKPT", "--ratios", "1,2,3"], "2 operators"),
    (["--run", "no-such-run", "--profile", "smoke"], "no trained model"),
])
def test_resynth_errors_are_clear_and_write_nothing(tmp_path, checkpoint, voice, capsys, args, message):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"garbage")
    args = [str(corrupt) if a == "CORRUPT" else str(checkpoint) if a == "CKPT" else a for a in args]
    out = tmp_path / "out.wav"
    assert main(["resynth", str(voice), *args, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unvoiced_or_unreadable_input_is_rejected(tmp_path, checkpoint, capsys):
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).uniform(-0.5, 0.5, 16000), 16000)
    assert main(["resynth", str(noise), "--checkpoint", str(checkpoint), "-o", str(tmp_path / "a.wav")]) == 2
    assert "no pitched sound" in capsys.readouterr().err
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not audio")
    assert main(["resynth", str(bad), "--checkpoint", str(checkpoint), "-o", str(tmp_path / "b.wav")]) == 2
    assert "bad.wav" in capsys.readouterr().err
    assert not (tmp_path / "a.wav").exists() and not (tmp_path / "b.wav").exists()


def test_fill_unvoiced_holds_the_last_voiced_pitch():
    f0 = np.array([1, 2, 3, 4, 5, 6], np.float32)
    voiced = np.array([False, True, False, False, True, False])
    np.testing.assert_array_equal(fill_unvoiced(f0, voiced), [2, 2, 2, 2, 5, 5])
    with pytest.raises(ValueError):
        fill_unvoiced(f0, np.zeros(6, bool))
