"""Tables as the book shows them (ddx7.report.display.show) and the learning-curve / equal-budget tables
built from metrics.json snapshots, on small hand-made results with known answers."""

import json
import math

import pandas as pd
import pytest

from ddx7 import report
from ddx7.report import findings
from ddx7.report.loaders import converged_label


def test_show_has_no_index_column_and_keeps_a_named_index_as_a_column():
    table = pd.DataFrame({"run": ["a", "b"], "MSS": [7.12345, 140.4932], "steps": [1800, 9000]}).set_index("run")
    html = report.show(table).to_html()
    assert "row_heading" not in html  # no index cells
    assert ">run</th>" in html and ">a</td>" in html
    assert ">7.123</td>" in html and ">140.5</td>" in html and ">9000</td>" in html


def test_show_joins_pivot_columns_so_adjacent_numbers_stay_apart():
    long = pd.DataFrame({"imax": ["2", "2", "4π", "4π"], "instrument": ["flute", "violin"] * 2,
                         "MSS": [140.49, 93.6, 1.0, 2.0]})
    pivot = long.pivot_table(index="imax", columns="instrument", values=["MSS"], aggfunc="first")
    html = report.show(pivot).to_html()
    assert ">MSS · flute</th>" in html and ">MSS · violin</th>" in html
    assert ">140.5</td>" in html and ">93.6</td>" in html and ">imax</th>" in html


def test_show_writes_large_numbers_without_an_exponent():
    html = report.show(pd.DataFrame({"cents": [1754.2, 12.74, 347.17]}), digits=3).to_html()
    assert ">1,754</td>" in html and ">12.7</td>" in html and ">347</td>" in html and "e+" not in html


def test_show_writes_missing_values_as_a_dash():
    assert ">—</td>" in report.show(pd.DataFrame({"x": [1.5, float("nan")]})).to_html()


def test_converged_label():
    conv = pd.DataFrame({"run": ["a", "b"], "verdict": ["flat", "still improving"],
                         "change over last third (%)": [-0.5, -7.25]}).set_index("run")
    assert converged_label(conv, "a") == "yes"
    assert converged_label(conv, "b") == "no (-7.2 % in the last third)"
    assert converged_label(conv, "c") == "?"


def _metrics(run, model, instrument, mss, fad, loud, steps, wall, snapshots=()):
    return {"run": run, "model": model, "instrument": instrument, "mss": mss, "fad": {"aisfx": {"fad": fad}},
            "f0_median_abs_cents": 5.0, "loudness_mean_abs_db": loud, "steps_total": steps, "train_wall_s": wall,
            "snapshots": [{"step": s, "train_wall_s": w, "mss": m, "fad": {"aisfx": {"fad": f}},
                           "f0_median_abs_cents": 9.0, "loudness_mean_abs_db": ld}
                          for s, w, m, f, ld in snapshots]}


def test_equal_budget_table_pairs_hpn_with_ddx7_at_its_steps_and_at_its_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results" / "p"
    for m in (_metrics("hpn-v", "hpn", "violin", 7.0, 60.0, 2.0, 1800, 800.0),
              _metrics("v-6osc", "ddx7", "violin", 8.0, 66.0, 1.5, 9000, 750.0,
                       snapshots=[(1800, 150.0, 10.0, 90.0, 3.0), (4500, 380.0, 9.0, 75.0, 2.5)])):
        (root / m["run"]).mkdir(parents=True)
        (root / m["run"] / "metrics.json").write_text(json.dumps(m))
    snaps = report.snapshot_table("p", ["hpn-v", "v-6osc"])
    assert list(snaps["step"]) == [1800, 1800, 4500, 9000]
    assert list(snaps["CPU s"]) == [800.0, 150.0, 380.0, 750.0]
    table = report.equal_budget_table("p", {"violin": ("hpn-v", "v-6osc")}).set_index("budget")
    assert table.loc["equal steps", "FAD ratio"] == 90.0 / 60.0
    assert table.loc["equal CPU time", "FAD ratio"] == 66.0 / 60.0
    assert table.loc["equal CPU time", "MSS ratio"] == 8.0 / 7.0
    text = findings.equal_budget_finding(table.reset_index())
    assert "equal steps (1,800 vs 1,800 steps, 150 vs 800 CPU s): FAD 90.0 / 60.0 = **1.50×**" in text
    assert "within the targets" in text
    worse = table.reset_index().assign(**{"loudness error DDX7 (dB)": 3.5})
    assert "outside the targets" in findings.equal_budget_finding(worse)


def test_rest_levels_tell_a_rendering_that_stops_between_notes_from_one_that_keeps_sounding():
    import numpy as np

    from ddx7.eval.rests import rest_levels, rests_above_input_db

    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    gate = (np.floor(t * 4) % 2 == 0).astype(float)  # 0.25 s notes and 0.25 s rests
    detached = tone * gate + 1e-4 * np.sin(2 * np.pi * 440 * t)  # rests 70 dB down, not digital silence
    levels = rest_levels(detached, {"same": detached, "legato": tone}, below_db=20)
    assert levels["rest frames"] > 150
    assert levels["same"] == levels["input"] < -25
    assert abs(levels["legato"]) < 2  # no rests: the "rest" frames are as loud as the notes
    assert np.isnan(rest_levels(tone, {"x": tone})["x"])  # a signal without rests has no rest level
    # the run metric: mean over pairs that have rests of rendering minus input: the input itself 0, rests
    # 10 dB louder ~10 (noise, so that every bin is above the loudness floor; note edges smear a little),
    # pairs without rests nothing
    noise = np.random.default_rng(0).standard_normal(len(t))
    quiet, louder = (0.3 * noise * gate + a * noise * (1 - gate) for a in (1e-2, 1e-2 * 10 ** 0.5))
    assert rests_above_input_db([(detached, detached), (tone, tone)]) == 0.0
    assert 8.5 < rests_above_input_db([(quiet, louder)]) < 10.5
    assert rests_above_input_db([(tone, tone)]) is None


def test_rest_finding_says_which_model_keeps_sounding():
    table = pd.DataFrame({"instrument": ["violin", "violin"], "input": [-24.0, -20.0], "HpN": [-20.0, -18.0],
                          "DDX7": [-10.0, -12.0], "rest frames": [40, 60]})
    text = findings.rest_finding(table)
    assert "rests sit -22.0 dB under the notes in the input, -19.0 dB in HpN's resynthesis and -11.0 dB in DDX7's: " \
           "HpN stops, DDX7 keeps sounding" in text
    assert "No shipped" in findings.rest_finding(pd.DataFrame())


def test_equal_budget_table_claims_equal_time_only_for_a_longer_ddx7_budget(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results" / "p"
    for m in (_metrics("hpn-v", "hpn", "violin", 7.0, 60.0, 2.0, 1800, 800.0),
              _metrics("v-6osc", "ddx7", "violin", 8.0, 66.0, 1.5, 1800, 150.0)):  # both 1,800 steps, no snapshots
        (root / m["run"]).mkdir(parents=True)
        (root / m["run"] / "metrics.json").write_text(json.dumps(m))
    table = report.equal_budget_table("p", {"violin": ("hpn-v", "v-6osc")})
    assert list(table["budget"]) == ["equal steps"]


def test_equal_budget_table_meets_at_hpns_snapshot_when_both_budgets_grew(tmp_path, monkeypatch):
    """Issue 16's doubled budgets: HpN 3,600 steps with a snapshot at 1,800, DDX7 18,000 with snapshots at 1,800,
    4,500 and 9,000. Equal steps: both at 1,800 (HpN's snapshot, not its shipped model); equal CPU time: both
    shipped models."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results" / "p"
    for m in (_metrics("hpn-v", "hpn", "violin", 6.5, 50.0, 2.0, 3600, 1700.0,
                       snapshots=[(1800, 850.0, 7.0, 60.0, 2.2)]),
              _metrics("v-6osc", "ddx7", "violin", 6.0, 45.0, 1.5, 18000, 1650.0,
                       snapshots=[(1800, 150.0, 10.0, 90.0, 3.0), (4500, 380.0, 9.0, 75.0, 2.5),
                                  (9000, 900.0, 6.8, 54.0, 1.7)])):
        (root / m["run"]).mkdir(parents=True)
        (root / m["run"] / "metrics.json").write_text(json.dumps(m))
    table = report.equal_budget_table("p", {"violin": ("hpn-v", "v-6osc")}).set_index("budget")
    assert list(table.index) == ["equal steps", "equal CPU time"]
    assert table.loc["equal steps", "HpN steps"] == table.loc["equal steps", "DDX7 steps"] == 1800
    assert table.loc["equal steps", "FAD ratio"] == 90.0 / 60.0 and table.loc["equal steps", "HpN CPU s"] == 850.0
    assert table.loc["equal CPU time", "DDX7 steps"] == 18000 and table.loc["equal CPU time", "HpN steps"] == 3600
    assert table.loc["equal CPU time", "FAD ratio"] == 45.0 / 50.0


def test_doubling_table_sets_the_former_budgets_snapshot_beside_the_shipped_model(tmp_path, monkeypatch):
    """A run trained on from 1,800 to 3,600 steps: its 1,800 snapshot and its shipped model, and the convergence
    verdict of the curve cut at 1,800 (falling 10 % over its last third) beside the whole curve's (flat)."""
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "results" / "p" / "hpn-v"
    run_dir.mkdir(parents=True)
    m = {**_metrics("hpn-v", "hpn", "violin", 6.5, 50.0, 2.0, 3600, 1700.0, snapshots=[(1800, 850.0, 7.0, 60.0, 2.2)]),
         "config": {"train": {}}}
    (run_dir / "metrics.json").write_text(json.dumps(m))
    valid = {600: 10.0, 1200: 9.0, 1800: 8.1, 2400: 7.0, 3000: 6.95, 3600: 6.9}
    rows = [f"{step},valid,{loss},0.001,{step / 10 if step <= 1800 else 180 + (step - 1800) / 20}"
            for step, loss in valid.items()]
    (run_dir / "train_log.csv").write_text("step,split,loss,lr,wall_s\n" + "\n".join(rows) + "\n")
    table = report.doubling_table("p", {"hpn": 1800})
    row = table.set_index("run").loc["hpn-v"]
    assert (row["former steps"], row["steps"]) == (1800, 3600)
    assert (row["FAD before"], row["FAD now"], row["MSS before"], row["MSS now"]) == (60.0, 50.0, 7.0, 6.5)
    assert row["FAD change (%)"] == pytest.approx(-100 / 6)
    assert row["converged before"] == "no (-10.0 % in the last third)" and row["converged now"] == "yes"
    assert (row["s/step before"], row["s/step after"]) == (0.1, 0.05)
    assert report.doubling_table("p", {"hpn": 900}).empty  # no snapshot at that budget


def test_unseen_table_averages_each_model_per_instrument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "p" / "unseen").mkdir(parents=True)
    pd.DataFrame({"instrument": ["violin"] * 4, "phrase": ["a", "a", "b", "b"], "run": ["h", "d", "h", "d"],
                  "model": ["hpn", "ddx7"] * 2, "mss": [10.0, 12.0, 6.0, 9.0], "f0_median_abs_cents": [1, 2, 3, 4],
                  "loudness_mean_abs_db": [1.0, 2.0, 3.0, 4.0]}).to_csv(tmp_path / "results/p/unseen/unseen.csv")
    row = report.unseen_table("p").iloc[0]
    assert row["phrases"] == 2 and row["MSS DDX7"] == 10.5 and row["MSS HpN"] == 8.0
    assert row["MSS ratio"] == 10.5 / 8.0 and row["loudness error DDX7 (dB)"] == 3.0
    assert report.unseen_table("q").empty
    assert report.unseen_table("p", name="unseen-csound").empty  # another sample set: its own folder
    (tmp_path / "results/p/unseen").rename(tmp_path / "results/p/unseen-csound")
    assert report.unseen_table("p", name="unseen-csound").iloc[0]["MSS ratio"] == 10.5 / 8.0


def test_same_reverb_finding_says_when_the_shorter_reverb_helped_hpn_too():
    row = {"instrument": "violin", "DDX7 reverb (s)": 0.25, "FAD DDX7": 73.2,
           "grid HpN reverb (s)": 0.25, "FAD grid HpN": 53.8, "HpN reverb-1s reverb (s)": 1.0,
           "FAD HpN reverb-1s": 64.3, "FAD ratio vs grid HpN": 1.36, "FAD ratio vs HpN reverb-1s": 1.14,
           "MSS ratio vs grid HpN": 1.01, "MSS ratio vs HpN reverb-1s": 0.96}
    text = findings.same_reverb_finding(pd.DataFrame([row]))
    assert ("1.36× by FAD and 1.01× by MSS against the grid's HpN (reverb 0.25 s), 1.14× and 0.96× against HpN "
            "with a 1 s reverb") in text
    assert "lowers HpN's FAD too (violin)" in text
    worse = findings.same_reverb_finding(pd.DataFrame([{**row, "FAD HpN reverb-1s": 50.0}]))
    assert "too" not in worse
    # the other way round (the grid with the long reverb): still the shorter one that is compared
    swapped = {**row, "grid HpN reverb (s)": 1.0, "HpN reverb-1s reverb (s)": 0.25}
    assert "too (violin)" not in findings.same_reverb_finding(pd.DataFrame([swapped]))
    assert "has not been trained" in findings.same_reverb_finding(pd.DataFrame())


def test_variant_finding_counts_what_the_variant_changed():
    table = pd.DataFrame({"run": ["a", "b", "c"], "FAD grid": [70.0, 300.0, 60.0], "FAD variant": [50.0, 80.0, 66.0],
                          "FAD variant / grid": [50 / 70, 80 / 300, 1.1], "MSS grid": [7.0, 9.5, 6.0],
                          "MSS variant": [6.8, 6.5, 6.1], "f0 error grid (cents)": [4.0, 1754.0, 3.0],
                          "f0 error variant (cents)": [3.0, 3.3, 25.0]})
    text = findings.variant_finding(table, "oversampling")
    assert ("3 runs: FAD aisfx lower on 2 of 3 (variant / grid 0.27–1.10, median 0.71), "
            "test MSS lower on 2 of 3") in text
    assert "Pitched now: b (unpitched in the grid)" in text and "No longer pitched: c." in text
    assert "yet" in findings.variant_finding(pd.DataFrame(), "oversampling")


def test_variant_table_pairs_each_run_with_the_grid_or_an_archived_recipe(monkeypatch):
    """variant_table: each run's variant beside the grid (results/<profile>), or with ``baseline`` beside the
    experiment ``<run>--<baseline>`` (the grid as it was before a recipe was promoted); runs without both are
    left out."""
    import ddx7.report.loaders as loaders

    def exp(name, fad, mss):
        run, _, variant = name.partition("--")
        return {"name": name, "run": run, "variant": variant, "MSS": mss, "FAD aisfx": fad, "f0 error (cents)": 3.0,
                "loudness error (dB)": 1.0, "rests above input (dB)": 2.0, "haze above input (dB)": 0.5}

    table = pd.DataFrame([exp("a--new", 50.0, 6.0), exp("a--old", 100.0, 7.0), exp("b--new", 60.0, 6.5),
                          exp("c--old", 10.0, 5.0)])
    grid = pd.DataFrame([{"run": "a", "mss": 8.0, "fad_aisfx": 80.0, "f0_median_abs_cents": 4.0,
                          "loudness_mean_abs_db": 2.0, "rests_above_input_db": 1.0, "harmonic_haze_db": None,
                          "harmonic_haze_input_db": None}])
    monkeypatch.setattr(loaders, "experiment_table", lambda: table)
    monkeypatch.setattr(loaders, "load_metrics", lambda profile: grid)
    vs_grid = loaders.variant_table("new")
    assert list(vs_grid["run"]) == ["a"] and vs_grid.loc[0, "FAD variant / grid"] == 50 / 80
    assert vs_grid.loc[0, "MSS grid"] == 8.0 and pd.isna(vs_grid.loc[0, "haze above input grid (dB)"])
    vs_old = loaders.variant_table("new", baseline="old")
    assert list(vs_old["run"]) == ["a"] and vs_old.loc[0, "FAD variant / grid"] == 0.5
    assert vs_old.loc[0, "MSS grid"] == 7.0 and vs_old.loc[0, "haze above input grid (dB)"] == 0.5


def test_doubling_finding_counts_converged_runs_and_names_those_that_got_worse():
    table = pd.DataFrame({"run": ["a", "b", "h"], "model": ["ddx7", "ddx7", "hpn"], "former steps": [9000] * 2 + [1800],
                          "steps": [18000] * 2 + [3600], "FAD change (%)": [-10.0, 4.0, -6.0],
                          "converged before": ["no (-3.0 % in the last third)", "yes", "no (-5.5 % in the last third)"],
                          "converged now": ["yes", "yes", "yes"], "s/step before": [0.11, 0.13, 0.48],
                          "s/step after": [0.08, 0.09, 0.44]})
    text = findings.doubling_finding(table)
    assert "**DDX7**, 2 runs (9,000 → 18,000 steps): converged 1 → **2** of 2; test FAD aisfx -3.0 % (median; -10.0 " \
           "to +4.0 %); higher for b (+4.0 %); wall time per step 0.120 → 0.085 s (median; fastest 0.110 → " \
           "0.080 s" in text
    assert "**HpN**, 1 run (1,800 → 3,600 steps): converged 0 → **1** of 1" in text
    assert "wall time" not in text.split("**HpN**")[1]
    assert "No run" in findings.doubling_finding(pd.DataFrame())


def test_unseen_players_embed_each_instruments_input_and_both_resyntheses(tmp_path, monkeypatch):
    import base64
    import re

    import numpy as np

    from ddx7 import SAMPLE_RATE
    from ddx7.audio_io import write_audio

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "results/p/unseen-x"
    assert report.unseen_players("p", "unseen-x") is None  # not run
    rows = [{"instrument": "violin", "phrase": ph, "run": run} for ph in ("va", "vb") for run in ("h", "d")]
    for ph in ("va", "vb"):
        for suffix, level in (("", 0.5), ("--h", 0.25), ("--d", 0.125)):
            write_audio(folder / "audio" / f"{ph}{suffix}.wav", np.full(160, level, np.float32), SAMPLE_RATE)
    meta = {"keep_audio": True, "pairs": {"violin": ["h", "d"]}, "soundfont": "x.sf2", "rows": rows}
    (folder / "unseen.json").write_text(json.dumps(meta))
    page = report.unseen_players("p", "unseen-x").data
    uris = re.findall(r'src="data:audio/wav;base64,([^"]+)"', page)
    expected = [folder / "audio" / f for f in ("va.wav", "va--h.wav", "va--d.wav")]  # one phrase: input, HpN, DDX7
    assert [base64.b64decode(u) for u in uris] == [f.read_bytes() for f in expected]
    assert len(re.findall("<audio", report.unseen_players("p", "unseen-x", phrases=2).data)) == 6
    (folder / "unseen.json").write_text(json.dumps({**meta, "keep_audio": False}))
    assert report.unseen_players("p", "unseen-x") is None  # tables only (--all-runs)


def test_unseen_runs_table_reads_the_folder_it_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/p/unseen-x").mkdir(parents=True)
    pd.DataFrame({"instrument": ["trumpet"] * 3, "phrase": ["a"] * 3, "run": ["h", "d2", "d6"],
                  "model": ["hpn", "ddx7", "ddx7"], "mss": [8.0, 12.0, 9.0], "mss_ratio_to_hpn": [None, 1.5, 1.125],
                  "loudness_mean_abs_db": [1.0, 4.0, 2.0]}).to_csv(tmp_path / "results/p/unseen-x/unseen.csv")
    assert report.unseen_runs_table("p").empty  # the default folder, unseen-all, holds nothing
    table = report.unseen_runs_table("p", name="unseen-x")
    assert list(table["run"]) == ["d2", "d6"] and list(table["MSS ratio"]) == [1.5, 1.125]
    assert "Within 1.2×: d6" in report.unseen_runs_finding(table)
    assert table["test-set MSS ratio"].isna().all()  # no run has test-set metrics here
    for run, mss in (("h", 5.0), ("d2", 6.0)):  # each run's own test set, beside the unseen ratio
        (tmp_path / f"results/p/{run}").mkdir()
        (tmp_path / f"results/p/{run}/metrics.json").write_text(json.dumps({"mss": mss}))
    table = report.unseen_runs_table("p", name="unseen-x")
    assert table["test-set MSS ratio"].iloc[0] == pytest.approx(1.2) and math.isnan(table["test-set MSS ratio"].iloc[1])


def test_unseen_runs_table_gives_a_snapshot_no_test_set_ratio(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for run, mss in (("h", 5.0), ("d2", 6.0)):
        (tmp_path / f"results/p/{run}").mkdir(parents=True)
        (tmp_path / f"results/p/{run}/metrics.json").write_text(json.dumps({"mss": mss}))
    (tmp_path / "results/p/unseen-x").mkdir()
    pd.DataFrame({"instrument": ["trumpet"] * 2, "phrase": ["a"] * 2, "run": ["h", "d2"], "model": ["hpn", "ddx7"],
                  "mss": [8.0, 12.0], "mss_ratio_to_hpn": [None, 1.5], "loudness_mean_abs_db": [1.0, 4.0],
                  "step": [None, 4500]}).to_csv(tmp_path / "results/p/unseen-x/unseen.csv")
    # the test set measured the run's published model, not its snapshot at step 4,500
    assert math.isnan(report.unseen_runs_table("p", name="unseen-x")["test-set MSS ratio"].iloc[0])


def test_oracle_table_reads_a_named_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/p/oracle-x").mkdir(parents=True)
    pd.DataFrame({"run": ["d"], "decoder MSS": [12.0], "decoder / HpN": [1.5],
                  "free-envelope MSS": [8.0]}).to_csv(tmp_path / "results/p/oracle-x/oracle.csv", index=False)
    assert report.oracle_table("p", unseen=True).empty  # oracle-unseen/ holds nothing
    assert report.oracle_table("p", name="oracle-x").iloc[0]["decoder / free"] == 1.5


def test_mss_band_table_splits_each_runs_test_clips_and_unseen_phrases(tmp_path, monkeypatch):
    import numpy as np
    import soundfile as sf
    import torch

    from ddx7 import SAMPLE_RATE
    from ddx7.audio_io import write_audio
    from ddx7.losses import MultiScaleSpectralLoss

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    sig = {k: (0.1 * rng.standard_normal(4000)).astype(np.float32) for k in ("orig", "r", "ph", "ph--r")}
    (tmp_path / "results/p/r/audio").mkdir(parents=True)
    write_audio(tmp_path / "results/p/r/audio/0_original.wav", sig["orig"], SAMPLE_RATE)
    write_audio(tmp_path / "results/p/r/audio/0_resynth.wav", sig["r"][:3990], SAMPLE_RATE)  # a few samples short
    (tmp_path / "results/p/r/metrics.json").write_text(json.dumps(
        {"clips": [{"original": "audio/0_original.wav", "resynth": "audio/0_resynth.wav"}]}))
    folder = tmp_path / "results/p/unseen"
    for name in ("ph", "ph--r"):
        write_audio(folder / "audio" / f"{name}.wav", sig[name], SAMPLE_RATE)
    meta = {"keep_audio": False, "soundfont": "/x/Other.sf2", "rows": [{"phrase": "ph"}]}
    (folder / "unseen.json").write_text(json.dumps(meta))
    assert list(report.mss_band_table("p", ["r"])["material"]) == ["test clips"]  # no audio kept: no unseen row
    (folder / "unseen.json").write_text(json.dumps({**meta, "keep_audio": True}))
    table = report.mss_band_table("p", ["r"]).set_index("material")
    assert list(table.index) == ["test clips", "unseen (Other)"]
    # the clips as written (a WAV round trip), the original cut to the rendering's length
    orig = sf.read(tmp_path / "results/p/r/audio/0_original.wav", dtype="float32")[0][:3990]
    res = sf.read(tmp_path / "results/p/r/audio/0_resynth.wav", dtype="float32")[0]
    expected = MultiScaleSpectralLoss()(torch.from_numpy(res)[None], torch.from_numpy(orig)[None]).item()
    assert table.loc["test clips", "MSS"] == pytest.approx(expected, rel=1e-5)
    bands = [c for c in table.columns if c.endswith("kHz")]
    assert table.loc["test clips", bands].sum() == pytest.approx(expected, rel=1e-5)


def test_pitch_band_table_groups_the_top_band_by_the_references_pitch(tmp_path, monkeypatch):
    import numpy as np

    from ddx7 import SAMPLE_RATE
    from ddx7.audio_io import write_audio
    from ddx7.report import analyses

    monkeypatch.chdir(tmp_path)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 300.0 * t)).astype(np.float32)
    hiss = (0.01 * np.random.default_rng(0).standard_normal(SAMPLE_RATE)).astype(np.float32)
    for run, rendering in (("a", tone), ("b", tone + hiss)):  # a lacks the reference's hiss, b has all of it
        (tmp_path / f"results/p/{run}/audio").mkdir(parents=True)
        write_audio(tmp_path / f"results/p/{run}/audio/0_original.wav", tone + hiss, SAMPLE_RATE)
        write_audio(tmp_path / f"results/p/{run}/audio/0_resynth.wav", rendering, SAMPLE_RATE)
        (tmp_path / f"results/p/{run}/metrics.json").write_text(json.dumps(
            {"clips": [{"original": "audio/0_original.wav", "resynth": "audio/0_resynth.wav"}]}))
    calls = []
    real = analyses.features
    monkeypatch.setattr(analyses, "features", lambda audio, extractor: calls.append(1) or real(audio, extractor))
    assert not any(c.startswith("frames") for c in report.pitch_band_table("p", ["a"]))  # counted on request
    calls.clear()
    table = report.pitch_band_table("p", ["a", "b"], frames=True).set_index("run")
    assert len(calls) == 1  # the runs' two copies of one clip: its pitch found once
    assert table.loc["a", "frames 0–400 Hz"] > 50 and table.loc["a", "frames ≥ 600 Hz"] == 0
    assert table.loc["a", "0–400 Hz"] > 2 and table.loc["b", "0–400 Hz"] == 0
