"""The unseen-phrase evaluation (ddx7.eval.unseen): which pieces it draws from, and its comparison."""

import numpy as np
import pytest

from ddx7.data.melody import piece_id
from ddx7.data.render import load_catalog
from ddx7.eval.unseen import compare, held_out_specs, model_choices, unseen_phrases


def tone(f0, seconds=2.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)).astype(np.float32)


def test_phrases_come_from_the_test_pieces_only():
    specs = load_catalog()["flute"]
    manifest = {"pieces": [{"piece": piece_id(specs[1]), "split": "test"},
                           {"piece": piece_id(specs[0]), "split": "train"},
                           {"piece": piece_id(specs[3]), "split": "test"}]}
    assert held_out_specs("flute", manifest) == [specs[1], specs[3]]


def test_compare_is_zero_for_the_input_itself_and_sees_an_octave():
    x = tone(220.0)
    same = compare(x, x.copy())
    assert same["mss"] == pytest.approx(0.0, abs=1e-6) and same["f0_median_abs_cents"] == 0.0
    assert same["loudness_mean_abs_db"] == 0.0
    octave = compare(x, tone(440.0))
    assert abs(octave["f0_median_abs_cents"] - 1200) < 20 and octave["mss"] > 1.0
    from ddx7.resynth import features

    assert compare(x, tone(440.0), reference=features(x)) == octave  # the original's features, computed once


def test_unseen_phrase_is_another_soundfont_and_normalised(tmp_path):
    import shutil

    from ddx7.eval.unseen import OTHER_SOUNDFONT

    if not shutil.which("fluidsynth") or not __import__("os").path.exists(OTHER_SOUNDFONT):
        pytest.skip("fluidsynth or the TimGM6mb soundfont is not installed (make venv installs them)")
    spec = load_catalog()["flute"][0]
    [(name, audio)] = unseen_phrases("flute", {"pieces": [{"piece": piece_id(spec), "split": "test"}]}, seconds=2.0)
    assert name == f"flute-{piece_id(spec)}" and len(audio) == 32000
    assert np.abs(audio).max() == pytest.approx(1.0)


def test_summary_by_run_compares_each_ddx7_run_with_its_instruments_hpn():
    import pandas as pd

    from ddx7.eval.unseen import summary_by_run

    rows = []
    for phrase, hpn in (("a", 2.0), ("b", 4.0)):
        rows.append({"instrument": "flute", "phrase": phrase, "run": "hpn-flute", "model": "hpn", "mss": hpn,
                     "loudness_mean_abs_db": 1.0})
        for run, factor in (("flute-2osc", 1.5), ("flute-6osc", 1.0)):
            rows.append({"instrument": "flute", "phrase": phrase, "run": run, "model": "ddx7", "mss": hpn * factor,
                         "loudness_mean_abs_db": factor, "mss_ratio_to_hpn": factor * (1.2 if phrase == "a" else 1)})
    table = summary_by_run(pd.DataFrame(rows)).set_index("run")
    assert list(table.index) == ["flute-2osc", "flute-6osc"]
    assert table.loc["flute-2osc", "MSS ratio"] == pytest.approx(1.5) and table.loc["flute-2osc", "MSS HpN"] == 3.0
    assert table.loc["flute-6osc", "MSS ratio"] == pytest.approx(1.0)
    assert table.loc["flute-2osc", "worst phrase ratio"] == pytest.approx(1.8)


def test_grid_pairs_put_table_1_first_and_every_ddx7_run_of_the_instrument_after():
    from ddx7.paper import grid_pairs, table1_pairs
    from ddx7.runs import list_runs, run_config

    pairs, table1 = grid_pairs("full"), table1_pairs("full")
    assert pairs.keys() == table1.keys()
    for instrument, runs in pairs.items():
        assert runs[:2] == table1[instrument]
        expected = {r for r in list_runs() if run_config(r, "full")["model"]["kind"] == "ddx7"
                    and run_config(r, "full")["data"]["instrument"] == instrument}
        assert set(runs[1:]) == expected and len(runs[1:]) == len(expected)


def test_compare_reports_an_unpitched_resynthesis_instead_of_refusing_it():
    """A model that renders noise for an unseen phrase is a finding: its MSS counts, its f0 error is NaN."""
    x = tone(220.0)
    noise = (0.1 * np.random.default_rng(0).standard_normal(len(x))).astype(np.float32)
    result = compare(x, noise)
    assert result["pitched"] is False and np.isnan(result["f0_median_abs_cents"])
    assert result["mss"] > compare(x, tone(440.0))["mss"] > 0
    assert compare(x, x.copy())["pitched"] is True


def test_model_choices_take_the_ddx7_runs_snapshots_at_a_step_and_name_the_ones_there_are(tmp_path, monkeypatch):
    import ddx7.checkpoints as checkpoints

    monkeypatch.setattr(checkpoints, "CHECKPOINT_ROOT", tmp_path)
    pairs = {"trumpet": ("hpn-trumpet", "trumpet-2osc-imax2pi", "trumpet-6osc-imax2")}
    for run in pairs["trumpet"][1:]:
        folder = checkpoints.run_dir(run, "full")
        folder.mkdir(parents=True)
        for step in (1800, 4500):
            checkpoints.snapshot_path(folder, step).write_bytes(b"")
    best = model_choices(pairs, "full")
    assert [(c.run, c.checkpoint) for c in best.values()] == [(r, None) for r in pairs["trumpet"]]
    at = model_choices(pairs, "full", step=1800)
    assert at["hpn-trumpet"].run == "hpn-trumpet" and at["hpn-trumpet"].checkpoint is None
    assert at["trumpet-6osc-imax2"].checkpoint == tmp_path / "full" / "trumpet-6osc-imax2" / "step-001800.pt"
    with pytest.raises(FileNotFoundError, match=r"trumpet-2osc-imax2pi has no snapshot at step 900 .*: 1800, 4500\)"):
        model_choices(pairs, "full", step=900)
