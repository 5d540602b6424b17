import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy.special import jv

from ddx7.cli import main


def test_patches_lists_every_patch(capsys):
    assert main(["patches"]) == 0
    out = capsys.readouterr().out
    for name in ("violin-6osc", "flute-6osc", "trumpet-6osc", "flute-4osc-y", "trumpet-4osc-y",
                 "violin-4osc-1x4", "violin-4osc-2x2", "2osc"):
        assert name in out
    assert "OP6→OP5" in out and "3.2, 8.5" in out


def test_render_writes_a_16k_mono_16bit_note(tmp_path):
    out = tmp_path / "note.wav"
    assert main(["render", "--patch", "2osc", "--f0", "250", "--seconds", "2", "--imax", "2",
                 "--levels", "1,0.5", "-o", str(out)]) == 0
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 32000)
    audio, _ = sf.read(out)
    spectrum = np.abs(np.fft.rfft(audio[:16000])) * 2 / 16000
    # levels 1, 0.5 at Imax 2 → index 1; ratios 1:1 fold sideband −n onto +n−2 only for n ≥ 2,
    # so the carrier line at 250 Hz holds J0(1) − J2(1) (J_{-2} = J_2 folds with a sign flip).
    assert spectrum[250] == pytest.approx(abs(jv(0, 1.0) - jv(2, 1.0)), abs=3e-3)


@pytest.mark.parametrize("args, message", [
    (["--levels", "1,abc"], "--levels"),
    (["--levels", "1,0.5,0.2"], "give 2 levels"),
    (["--patch", "cello"], "unknown patch"),
    (["--f0", "nan"], "f0"),
    (["--imax", "loud"], "Imax"),
])
def test_render_bad_input_fails_without_writing(tmp_path, capsys, args, message):
    out = tmp_path / "bad.wav"
    assert main(["render", *args, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_console_script_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ddx7.cli", "render", "--levels", "x", "-o", str(tmp_path / "a.wav")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "error" in proc.stderr


def test_cpu_model_names_family_and_model_where_the_name_has_no_number(monkeypatch):
    from pathlib import Path

    from ddx7 import provenance

    def cpuinfo(name):
        text = (f"processor\t: 0\nvendor_id\t: X\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: {name}\n\n"
                "processor\t: 1\n")
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text)
        return provenance.cpu_model()

    assert cpuinfo("AMD EPYC") == "AMD EPYC (family 26, model 2)"
    assert cpuinfo("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz") == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"


def test_eval_unseen_writes_another_sample_set_under_its_name(monkeypatch, capsys):
    import pandas as pd

    import ddx7.eval.unseen as unseen

    seen = {}

    def fake(pairs, profile, data_root, results, soundfont, seconds, name="unseen", keep_audio=True, step=None):
        seen.update(pairs=pairs, name=name, soundfont=soundfont, keep_audio=keep_audio, step=step)
        return pd.DataFrame({"instrument": ["violin"] * 2, "phrase": ["a", "a"], "run": ["h", "d"],
                             "model": ["hpn", "ddx7"], "mss": [8.0, 10.0], "f0_median_abs_cents": [1.0, 2.0],
                             "loudness_mean_abs_db": [1.0, 2.0], "mss_ratio_to_hpn": [None, 1.25]})

    monkeypatch.setattr(unseen, "evaluate_unseen", fake)
    assert main(["eval-unseen", "--soundfont", "other.sf2", "--name", "unseen-other"]) == 0
    assert {k: seen[k] for k in ("name", "soundfont", "keep_audio")} == {"name": "unseen-other",
                                                                           "soundfont": "other.sf2", "keep_audio": True}
    assert "1.25x" in capsys.readouterr().out
    assert main(["eval-unseen", "--all-runs"]) == 0 and seen["name"] == "unseen-all" and not seen["keep_audio"]
    # chosen runs, experiments too, each against its instrument's HpN
    assert main(["eval-unseen", "--profile", "full", "--runs", "trumpet-2osc-imax2pi--dropout0.1",
                 "violin-2osc-imax2", "trumpet-6osc-imax2", "--name", "unseen-x"]) == 0
    assert seen["pairs"] == {"trumpet": ("hpn-trumpet", "trumpet-2osc-imax2pi--dropout0.1", "trumpet-6osc-imax2"),
                             "violin": ("hpn-violin", "violin-2osc-imax2")} and not seen["keep_audio"]
    assert seen["step"] is None
    assert main(["eval-unseen", "--profile", "full", "--runs", "violin-2osc-imax2", "--name", "x",
                 "--step", "1800"]) == 0
    assert seen["step"] == 1800
    assert main(["eval-unseen", "--runs", "violin-2osc-imax2"]) == 2
    assert "--runs needs --name" in capsys.readouterr().err
    assert main(["eval-unseen", "--step", "1800"]) == 2
    assert "--step needs --runs" in capsys.readouterr().err
    assert main(["eval-unseen", "--runs", "hpn-violin", "--name", "x"]) == 2
    assert "hpn-violin is not a DDX7 run" in capsys.readouterr().err


def test_eval_oracle_takes_chosen_runs_another_soundfont_and_a_name(monkeypatch, capsys):
    import ddx7.eval.oracle as oracle

    seen = {}
    monkeypatch.setattr(oracle, "evaluate_oracle", lambda pairs, *a, **kw: seen.update(pairs=pairs, **kw))
    assert main(["eval-oracle", "--unseen", "--soundfont", "other.sf2", "--name", "oracle-other", "--runs",
                 "trumpet-2osc-imax2pi", "trumpet-6osc-imax2pi"]) == 0
    assert seen == {"pairs": {"trumpet": ("hpn-trumpet", "trumpet-2osc-imax2pi", "trumpet-6osc-imax2pi")},
                    "unseen": True, "soundfont": "other.sf2", "name": "oracle-other"}
    assert "wrote results/full/oracle-other" in capsys.readouterr().out
    monkeypatch.undo()
    assert main(["eval-oracle", "--soundfont", "other.sf2"]) == 2  # test excerpts have their own sample set
    assert "a soundfont renders unseen phrases" in capsys.readouterr().err
