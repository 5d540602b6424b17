"""The command line with a careful and a hostile user: the user's files survive, bad input gets one
clear line before any work, and no silent nonsense comes out (issue 13)."""

import os
import stat

import numpy as np
import pytest
import soundfile as sf
import torch

from ddx7 import HOP, SAMPLE_RATE
from ddx7.atomic import atomic_write, torch_save, write_json
from ddx7.cli import main
from ddx7.models import DDX7, HpN


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = DDX7("2osc", 2.0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch_save({"config": model.config, "model": model.state_dict(), "extractor": "pyin"}, path)
    return path


@pytest.fixture(scope="module")
def hpn_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = HpN()
    path = tmp_path_factory.mktemp("ckpt") / "hpn.pt"
    torch_save({"config": model.config, "model": model.state_dict(), "extractor": "pyin"}, path)
    return path


def tone(seconds=1.0, f0=330.0, sr=SAMPLE_RATE, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * f0 * t
    return (amp * (np.sin(phase) + 0.5 * np.sin(2 * phase))).astype(np.float32)


@pytest.fixture
def voice(tmp_path):
    path = tmp_path / "voice.wav"
    sf.write(path, tone(), SAMPLE_RATE)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


# ----------------------------------------------------------------------------- the input survives

@pytest.mark.parametrize("command", ["resynth", "stream"])
def test_output_over_the_input_is_refused_and_the_input_survives(tmp_path, checkpoint, voice, capsys, command):
    before = voice.read_bytes()
    code, err = run(capsys, command, voice, "--checkpoint", checkpoint, "-o", voice)
    assert code == 2 and "is the input file" in err and err.count("\n") == 1
    assert voice.read_bytes() == before
    # the same file under another name (a relative path, a symlink) is the input too
    link = tmp_path / "link.wav"
    link.symlink_to(voice)
    code, err = run(capsys, command, voice, "--checkpoint", checkpoint, "-o", link)
    assert code == 2 and voice.read_bytes() == before


def test_output_over_the_checkpoint_is_refused(tmp_path, checkpoint, voice, capsys):
    before = checkpoint.read_bytes()
    code, err = run(capsys, "resynth", voice, "--checkpoint", checkpoint, "-o", checkpoint)
    assert code == 2 and checkpoint.read_bytes() == before


# ----------------------------------------------------------------------------- checked before the work

@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if feature extraction or rendering starts."""
    import ddx7.resynth
    import ddx7.stream_file

    def boom(*a, **k):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(ddx7.resynth, "chunked_features", boom)
    monkeypatch.setattr(ddx7.resynth, "Input", boom)
    monkeypatch.setattr(ddx7.stream_file, "load_streamer", boom)


@pytest.mark.parametrize("command", ["resynth", "stream"])
@pytest.mark.parametrize("name, message", [("DIR", "is a directory"), ("x.txt", "not an audio format"),
                                           ("noext", "no extension")])
def test_bad_output_paths_fail_before_any_work(tmp_path, checkpoint, voice, capsys, no_work, command, name, message):
    out = tmp_path if name == "DIR" else tmp_path / name
    code, err = run(capsys, command, voice, "--checkpoint", checkpoint, "-o", out)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_render_checks_its_output_first(tmp_path, capsys):
    code, err = run(capsys, "render", "--seconds", "1", "-o", tmp_path / "x.txt")
    assert code == 2 and "not an audio format" in err


@pytest.mark.parametrize("value, message", [("100", "out of range"), ("-100", "out of range"),
                                            ("nan", "--pitch-shift"), ("inf", "--pitch-shift")])
def test_out_of_range_pitch_shift_is_refused(tmp_path, checkpoint, voice, capsys, no_work, value, message):
    out = tmp_path / "o.wav"
    code, err = run(capsys, "resynth", voice, "--checkpoint", checkpoint, f"--pitch-shift={value}", "-o", out)
    assert code == 2 and message in err and not out.exists()


def test_a_shift_that_takes_the_melody_out_of_the_synths_range_is_refused(tmp_path, checkpoint, capsys):
    high = tmp_path / "high.wav"
    sf.write(high, tone(f0=1500.0), SAMPLE_RATE)
    out = tmp_path / "o.wav"
    code, err = run(capsys, "resynth", high, "--checkpoint", checkpoint, "--pitch-shift", "24", "-o", out)
    assert code == 2 and "Hz" in err and not out.exists()


@pytest.mark.parametrize("command", ["resynth", "stream"])
@pytest.mark.parametrize("ratios", ["0,1", "1,-2", "1,nan"])
def test_zero_negative_or_nan_ratios_are_refused(tmp_path, checkpoint, voice, capsys, command, ratios):
    out = tmp_path / "o.wav"
    code, err = run(capsys, command, voice, "--checkpoint", checkpoint, f"--ratios={ratios}", "-o", out)
    assert code == 2 and "ratio" in err and not out.exists()


@pytest.mark.parametrize("ratios", ["0,1", "1,-2"])
def test_render_refuses_zero_and_negative_ratios(tmp_path, capsys, ratios):
    out = tmp_path / "o.wav"
    code, err = run(capsys, "render", "--patch", "2osc", f"--ratios={ratios}", "-o", out)
    assert code == 2 and "positive" in err and not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--block-ms", "inf"], "--block-ms"), (["--block-ms", "nan"], "--block-ms"), (["--block-ms", "-4"], "--block-ms"),
    (["--threads", "-1"], "--threads"), (["--threads", "0"], "--threads"),
])
def test_stream_option_errors_are_one_line(tmp_path, checkpoint, voice, capsys, no_work, args, message):
    code, err = run(capsys, "stream", voice, "--checkpoint", checkpoint, *args, "-o", tmp_path / "o.wav")
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("seconds", ["1e12", "inf", "0"])
def test_render_refuses_absurd_durations(tmp_path, capsys, seconds):
    code, err = run(capsys, "render", "--seconds", seconds, "-o", tmp_path / "o.wav")
    assert code == 2 and "--seconds" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- inputs

def test_truncated_wav_is_named_not_resynthesised(tmp_path, checkpoint, voice, capsys):
    cut = tmp_path / "cut.wav"
    cut.write_bytes(voice.read_bytes()[:2000])
    out = tmp_path / "o.wav"
    code, err = run(capsys, "resynth", cut, "--checkpoint", checkpoint, "-o", out)
    assert code == 2 and "truncated" in err and not out.exists()


def test_streamed_wav_with_an_open_size_is_not_called_truncated(tmp_path):
    from ddx7.data.audio import wav_truncation

    path = tmp_path / "open.wav"
    sf.write(path, tone(0.2), SAMPLE_RATE)
    data = bytearray(path.read_bytes())
    i = data.index(b"data")
    data[i + 4:i + 8] = b"\xff\xff\xff\xff"  # a recorder that never went back to fill in the size
    path.write_bytes(bytes(data))
    assert wav_truncation(path) is None


def test_a_directory_as_input_is_called_a_directory(tmp_path, checkpoint, capsys):
    code, err = run(capsys, "resynth", tmp_path, "--checkpoint", checkpoint, "-o", tmp_path / "o.wav")
    assert code == 2 and "is a directory" in err


def test_unreadable_input_message_has_no_empty_reason(tmp_path, checkpoint, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    code, err = run(capsys, "resynth", bad, "--checkpoint", checkpoint, "-o", tmp_path / "o.wav")
    assert code == 2 and "cannot read audio" in err
    assert ": )" not in err and ":)" not in err


def test_short_input_gets_one_line_and_no_library_warnings(tmp_path, checkpoint, capsys):
    import warnings

    short = tmp_path / "short.wav"
    sf.write(short, tone(0.05), SAMPLE_RATE)
    code, err = run(capsys, "resynth", short, "--checkpoint", checkpoint, "-o", tmp_path / "o.wav")
    assert code == 2 and "too short" in err
    ok = tmp_path / "ok.wav"
    sf.write(ok, tone(0.2), SAMPLE_RATE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, err = run(capsys, "resynth", ok, "--checkpoint", checkpoint, "-o", tmp_path / "o.wav")
    assert code == 0, err
    assert not [str(w.message) for w in caught if "librosa" in w.filename]


# ----------------------------------------------------------------------------- formats

@pytest.mark.parametrize("suffix", [".ogg", ".mp3", ".flac"])
def test_compressed_outputs_are_written(tmp_path, checkpoint, voice, capsys, suffix):
    out = tmp_path / f"o{suffix}"
    code, err = run(capsys, "resynth", voice, "--checkpoint", checkpoint, "-o", out)
    assert code == 0, err
    audio, sr = sf.read(out)
    assert sr == SAMPLE_RATE and abs(len(audio) - SAMPLE_RATE) < 2048 and np.abs(audio).max() > 1e-3


# ----------------------------------------------------------------------------- silence in, silence out

def test_stream_keeps_digital_silence_silent(tmp_path, checkpoint, capsys):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    out = tmp_path / "o.wav"
    code, err = run(capsys, "stream", silence, "--checkpoint", checkpoint, "-o", out)
    assert code == 0, err
    audio, _ = sf.read(out)
    assert len(audio) == SAMPLE_RATE and not audio.any()


def test_stream_refuses_noise_as_resynth_does(tmp_path, checkpoint, capsys):
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).uniform(-0.9, 0.9, SAMPLE_RATE), SAMPLE_RATE)
    for command in ("stream", "resynth"):
        out = tmp_path / f"{command}.wav"
        code, err = run(capsys, command, noise, "--checkpoint", checkpoint, "-o", out)
        assert code == 2 and "no pitched sound" in err and not out.exists()


@pytest.mark.parametrize("command", ["stream", "resynth"])
@pytest.mark.parametrize("which", ["ddx7", "hpn"])
def test_a_rest_of_digital_silence_comes_out_silent(tmp_path, checkpoint, hpn_checkpoint, capsys, command, which):
    x = np.concatenate([tone(1.0), np.zeros(SAMPLE_RATE, np.float32), tone(0.5)])
    path = tmp_path / "rest.wav"
    sf.write(path, x, SAMPLE_RATE)
    out = tmp_path / "o.wav"
    ckpt = checkpoint if which == "ddx7" else hpn_checkpoint
    code, err = run(capsys, command, path, "--checkpoint", ckpt, "-o", out)
    assert code == 0, err
    y, _ = sf.read(out)
    rest = y[int(1.5 * SAMPLE_RATE): 2 * SAMPLE_RATE]  # 0.5 s after the note ended
    assert not rest.any()
    assert np.abs(y[: SAMPLE_RATE]).max() > 1e-3 and np.abs(y[2 * SAMPLE_RATE + 4000:]).max() > 1e-3


def test_gate_blockwise_equals_one_pass_and_closes_to_exact_zero():
    from ddx7.gate import SilenceGate

    rng = np.random.default_rng(0)
    x = np.concatenate([tone(0.5), np.zeros(8000, np.float32), tone(0.3, amp=0.01), np.zeros(60000, np.float32)])
    x = x[: 1200 * HOP]
    y = rng.uniform(-1, 1, len(x)).astype(np.float32)
    whole = SilenceGate()(x, y)
    gate = SilenceGate()
    parts, i = [], 0
    for k in [1, 7, 64, 0, 3, 250, 875]:
        parts.append(gate(x[i * HOP:(i + k) * HOP], y[i * HOP:(i + k) * HOP]))
        i += k
    np.testing.assert_array_equal(np.concatenate(parts), whole[: i * HOP])
    np.testing.assert_array_equal(whole[: 7000], y[: 7000])  # open: untouched
    assert not whole[8000 + 7000: 16000].any()  # closed (0.41 s after the input stopped): exact zeros
    assert not SilenceGate()(np.zeros(640, np.float32), y[:640]).any()  # silence from the start


def test_gate_release_is_the_documented_exponential():
    from ddx7.gate import RELEASE_S, SilenceGate

    x = np.concatenate([tone(0.2), np.zeros(HOP * 100, np.float32)])
    g = SilenceGate().gains(x)
    first_closed = int(np.argmax(g < 1))
    np.testing.assert_allclose(g[first_closed + 1] / g[first_closed], np.exp(-HOP / (RELEASE_S * SAMPLE_RATE)))


# ----------------------------------------------------------------------------- file modes

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_atomic_writes_keep_the_mode_of_the_file_they_replace(tmp_path, mode):
    path = tmp_path / "f.json"
    path.write_text("{}")
    path.chmod(mode)
    write_json(path, {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == mode and path.read_text().startswith("{")


def test_atomic_write_of_a_new_file_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_json(tmp_path / "new.json", {})
        from ddx7.audio_io import write_audio

        write_audio(tmp_path / "new.wav", tone(0.1), SAMPLE_RATE)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "new.wav").stat().st_mode) == 0o640


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def fail(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, fail)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


# ----------------------------------------------------------------------------- long inputs

def test_chunked_features_equal_one_pass(monkeypatch):
    """Loudness and CREPE per 2048-frame chunk give the one-pass values (same dither draws)."""
    from ddx7.data.features import extract_f0, features_in_chunks, loudness_db

    rng = np.random.default_rng(1)
    x = np.concatenate([tone(3.0, f0=220), tone(2.0, f0=440)]) + 0.01 * rng.standard_normal(80000).astype(np.float32)
    x = x[: 5 * SAMPLE_RATE + 37]

    def read(a, b):
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, len(x))
        if hi > lo:
            out[lo - a: hi - a] = x[lo:hi]
        return out

    extract_f0(x[:4000], "tiny")  # load the network first: building it draws random numbers
    np.random.seed(0)  # torchcrepe dithers its bins with numpy's global generator
    f0, per = extract_f0(x, "tiny")
    np.random.seed(0)
    cf0, cper, cld = features_in_chunks(read, len(x), "tiny", chunk_frames=2048)
    np.testing.assert_array_equal(cf0, f0)
    np.testing.assert_array_equal(cper, per)
    np.testing.assert_array_equal(cld, loudness_db(x))


def test_resynth_memory_does_not_grow_with_the_length(tmp_path, checkpoint, monkeypatch):
    """Peak numpy memory (tracemalloc) for a 24 s input is no more than for a 12 s one, plus slack."""
    import tracemalloc

    import ddx7.resynth as R

    monkeypatch.setattr(R, "PROGRESS_SECONDS", 1e9)
    peaks = {}
    for seconds in (12, 24):
        path = tmp_path / f"in{seconds}.wav"
        sf.write(path, np.tile(tone(1.0), seconds), SAMPLE_RATE)
        tracemalloc.start()
        info = R.resynth_file(path, model=R.ModelChoice(checkpoint=checkpoint), output=tmp_path / "o.wav",
                              extractor="tiny")
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert abs(info["seconds"] - seconds) < 0.01
    # a whole-file pipeline holds ~1 MB per second of audio (input, features' STFT, output): 2× here
    assert peaks[24] < 1.2 * peaks[12], peaks


def test_resynth_shows_progress_on_long_inputs(tmp_path, checkpoint, capsys, monkeypatch):
    import ddx7.resynth as R

    monkeypatch.setattr(R, "PROGRESS_SECONDS", 0.5)
    path = tmp_path / "in.wav"
    sf.write(path, tone(1.0), SAMPLE_RATE)
    code, err = run(capsys, "resynth", path, "--checkpoint", checkpoint, "-o", tmp_path / "o.wav")
    assert code == 0 and "features" in err and "render" in err
