"""The committed results/full: complete, consistent with today's configs, loadable, lean."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ddx7.paper import table1_pairs
from ddx7.runs import config_hash, list_runs, run_config

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "results" / "full"
TABLE1 = [run for pair in table1_pairs("full").values() for run in pair]

pytestmark = pytest.mark.skipif(not (FULL / ".complete").exists(), reason="results/full is not committed yet")


def metrics(run):
    return json.loads((FULL / run / "metrics.json").read_text())


def test_every_run_evaluated_with_todays_config():
    for run in list_runs():
        m = metrics(run)
        # a config changed after the run would make the committed numbers irreproducible
        assert config_hash(m["config"]) == config_hash(run_config(run, "full")), run
        assert m["steps_total"] == run_config(run, "full")["train"]["steps"], run
        card = json.loads((FULL / "data" / m["instrument"] / "manifest.json").read_text())
        assert m["manifest_hash"] == card["manifest_hash"], run
        assert np.isfinite(m["mss"]) and m["fad"]["aisfx"]["fad"] is not None


def test_metrics_csv_lists_every_run():
    import pandas as pd

    df = pd.read_csv(FULL / "metrics.csv")
    assert sorted(df["run"]) == sorted(list_runs())
    for col in ("seed", "config_hash", "manifest_hash", "steps", "train_wall_s"):
        assert df[col].notna().all(), col


@pytest.mark.parametrize("run", TABLE1)
def test_shipped_model_renders_its_test_clip(run):
    from ddx7.checkpoints import load_model

    model, ckpt = load_model(FULL / run / "model.pt")
    assert ckpt["manifest_hash"] == metrics(run)["manifest_hash"]
    f0 = torch.full((1, 250), 330.0)
    ld = torch.full((1, 250), -30.0)
    with torch.no_grad():
        audio = model(f0, ld)
    assert audio.shape == (1, 250 * 64) and torch.isfinite(audio).all() and audio.abs().max() > 1e-4
    clip = metrics(run)["clips"][0]
    for kind in ("original", "resynth"):
        data, sr = sf.read(FULL / run / clip[kind])
        assert sr == 16000 and len(data) == 64000 and np.abs(data).max() > 1e-3


def test_rtf_tables_and_size():
    import pandas as pd

    rtf = pd.read_csv(FULL / "rtf.csv")
    assert {"paper_ddx7", "paper_hpn"} <= set(rtf.columns) and len(rtf) == 7
    assert (FULL / "rtf_streaming.csv").exists()
    total = sum(f.stat().st_size for f in FULL.rglob("*") if f.is_file())  # smoke/quick are not committed
    assert total < 100e6, f"results/full is {total / 1e6:.1f} MB (limit 100 MB)"


def test_committed_experiments_match_todays_configs_and_table():
    """Every recipe experiment in results/experiments/full was evaluated with today's config of its name
    (ddx7/configs/experiments or runs), and the training chapter's table shows each once."""
    from ddx7.report import experiment_table

    root = ROOT / "results" / "experiments" / "full"
    names = sorted(p.parent.name for p in root.glob("*/metrics.json"))
    for name in names:
        m = json.loads((root / name / "metrics.json").read_text())
        assert config_hash(m["config"]) == config_hash(run_config(name, "full")), name
    table = experiment_table()
    assert sorted(table["name"]) == names
    assert all(name.startswith(run) for name, run in zip(table["name"], table["run"]))
    assert table["change"].str.len().min() > 10


def test_a_new_learning_rate_in_the_full_profile_leaves_every_recorded_ddx7_experiment_as_recorded(
        tmp_path, monkeypatch):
    """Adopting a recipe that changes the full profile's rate and warm-up (as issue 16's 5b did) changes the grid's
    DDX7 runs and no recorded experiment: each pins recipe 4's (configs/recipe4.yaml) or sets its own."""
    import re
    import shutil

    from ddx7 import runs

    configs = tmp_path / "configs"
    shutil.copytree(runs.CONFIG_DIR, configs)
    text = (configs / "ddx7.yaml").read_text()
    full_train = re.compile(r"(    train: \{batch_size: 4, excerpt_frames: 500, steps: 18000,[^}]*?)lr: [^,]+,\s*"
                            r"warmup_steps: [^}]+\}")
    assert len(full_train.findall(text)) == 1
    (configs / "ddx7.yaml").write_text(full_train.sub(r"\1lr: 0.05, warmup_steps: 7}", text))
    monkeypatch.setattr(runs, "CONFIG_DIR", configs)
    monkeypatch.setattr(runs, "RUNS_DIR", configs / "runs")
    monkeypatch.setattr(runs, "EXPERIMENTS_DIR", configs / "experiments")
    assert runs.run_config("violin-6osc-imax2", "full")["train"]["lr"] == 0.05  # the grid does change
    root = ROOT / "results" / "experiments" / "full"
    for path in sorted(root.glob("*/metrics.json")):
        m = json.loads(path.read_text())
        assert config_hash(m["config"]) == config_hash(runs.run_config(path.parent.name, "full")), path.parent.name


def test_every_runs_rest_level_is_recorded_and_is_its_clips():
    """rests_above_input_db (how much louder than the input the rests between detached notes are) is in every
    run's metrics.json and is what its shipped clips give (a reader recomputes it from results/ alone)."""
    from ddx7.eval.rests import clip_rests_above_input_db

    for run in list_runs():
        m = metrics(run)
        assert "rests_above_input_db" in m, run
        again = clip_rests_above_input_db(FULL / run, m["clips"])
        # 1e-4 dB, not exact: the loudness's float32 FFTs round differently across CPUs (AVX-512 Xeon, which wrote the
        # records, against AVX2 EPYC: 4e-6 dB apart)
        assert (again is None and m["rests_above_input_db"] is None) or abs(again - m["rests_above_input_db"]) < 1e-4
