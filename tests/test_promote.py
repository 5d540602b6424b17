"""`ddx7 promote`: a recipe experiment becomes its grid run (ddx7.promote) — moved, renamed, nothing overwritten.

Uses real config pairs of the full profile: hpn-violin--reverb-short trains what hpn-violin is today (configs equal
but the name), hpn-violin--reverb-1s is what the grid's HpN violin was before (the 1 s reverb)."""

import json

import pytest
import torch

from ddx7.atomic import torch_save
from ddx7.cli import main
from ddx7.promote import PromoteError, promote_experiment
from ddx7.runs import config_hash, run_config

RUN, EXP, ARCHIVE = "hpn-violin", "hpn-violin--reverb-short", "reverb-1s"


def _evaluated(results, ckpts, name, config_name, tag):
    """A trained and evaluated run ``name`` whose config is ``config_name``'s, as `ddx7 train/eval` leave it."""
    cfg = dict(run_config(config_name, "full"), name=name)
    r = results / name
    (r / "audio").mkdir(parents=True)
    (r / "audio" / "000_resynth.wav").write_bytes(tag.encode())
    (r / "train_log.csv").write_text(f"step,split,loss\n1,valid,{tag}\n")
    json.dump({"run": name, "config": cfg, "checkpoint": f"checkpoints/full/{name}/best.pt", "mss": len(tag),
               "clips": [{"resynth": "audio/000_resynth.wav"}]}, (r / "metrics.json").open("w"))
    torch_save({"run_config": cfg, "model": {"w": torch.ones(2)}}, r / "model.pt")
    c = ckpts / "full" / name
    c.mkdir(parents=True)
    torch_save({"run_config": cfg, "tag": tag}, c / "best.pt")
    (c / ".lock").write_text("123")


@pytest.fixture
def roots(tmp_path):
    results, ckpts = tmp_path / "results", tmp_path / "checkpoints"
    _evaluated(results / "full", ckpts, RUN, f"{RUN}--{ARCHIVE}", "old")
    _evaluated(results / "experiments" / "full", ckpts, EXP, RUN, "new")
    return results, ckpts


def test_promote_replaces_the_run_and_archives_the_old_one(roots):
    results, ckpts = roots
    promote_experiment(EXP, "full", archive=ARCHIVE, results_root=results, checkpoint_root=ckpts)
    m = json.loads((results / "full" / RUN / "metrics.json").read_text())
    assert m["run"] == RUN and m["mss"] == 3 and m["checkpoint"] == f"checkpoints/full/{RUN}/best.pt"
    assert config_hash(m["config"]) == config_hash(run_config(RUN, "full"))  # what test_results_full checks
    assert (results / "full" / RUN / "audio" / "000_resynth.wav").read_bytes() == b"new"
    shipped = torch.load(results / "full" / RUN / "model.pt", weights_only=True)
    assert shipped["run_config"]["name"] == RUN
    assert torch.load(ckpts / "full" / RUN / "best.pt", weights_only=True)["tag"] == "new"
    assert not (ckpts / "full" / RUN / ".lock").exists()
    kept = results / "experiments" / "full" / f"{RUN}--{ARCHIVE}"
    old = json.loads((kept / "metrics.json").read_text())
    assert old["run"] == f"{RUN}--{ARCHIVE}" and old["mss"] == 3 and "old" in (kept / "train_log.csv").read_text()
    assert config_hash(old["config"]) == config_hash(run_config(f"{RUN}--{ARCHIVE}", "full"))
    assert torch.load(ckpts / "full" / f"{RUN}--{ARCHIVE}" / "best.pt", weights_only=True)["tag"] == "old"
    # the experiment itself stays, and both metrics.csv list what is there now
    assert (results / "experiments" / "full" / EXP / "metrics.json").exists()
    assert f"{RUN}--{ARCHIVE}" in (results / "experiments" / "full" / "metrics.csv").read_text()
    assert RUN in (results / "full" / "metrics.csv").read_text()


def test_promote_refuses_to_overwrite_and_moves_nothing(roots):
    results, ckpts = roots
    before = sorted(p.relative_to(results.parent) for p in results.parent.rglob("*"))
    with pytest.raises(PromoteError, match="pass an archive name"):
        promote_experiment(EXP, "full", results_root=results, checkpoint_root=ckpts)
    (ckpts / "full" / f"{RUN}--{ARCHIVE}").mkdir()
    with pytest.raises(PromoteError, match="exists already"):
        promote_experiment(EXP, "full", archive=ARCHIVE, results_root=results, checkpoint_root=ckpts)
    (ckpts / "full" / f"{RUN}--{ARCHIVE}").rmdir()
    assert sorted(p.relative_to(results.parent) for p in results.parent.rglob("*")) == before
    # the archive's config must be what the published run was trained with: here it had today's 0.25 s reverb
    m = json.loads((results / "full" / RUN / "metrics.json").read_text())
    m["config"] = run_config(RUN, "full")
    (results / "full" / RUN / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(PromoteError, match="reverb_seconds"):
        promote_experiment(EXP, "full", archive=ARCHIVE, results_root=results, checkpoint_root=ckpts)
    assert not (results / "experiments" / "full" / f"{RUN}--{ARCHIVE}").exists()
    assert torch.load(ckpts / "full" / RUN / "best.pt", weights_only=True)["tag"] == "old"


def test_promote_cli_names_the_settings_that_differ(roots, capsys):
    results, ckpts = roots
    # hpn-violin--reverb-1s trained the 1 s reverb: it is not what hpn-violin is today
    args = ["promote", f"{RUN}--{ARCHIVE}", "--results", str(results), "--checkpoints", str(ckpts)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ddx7 promote: error:") and "reverb_seconds" in err and len(err.splitlines()) == 1
    assert main(["promote", "violin-6osc-imax2", "--results", str(results)]) == 2
    assert "not an experiment name" in capsys.readouterr().err


def test_promote_from_committed_results_alone(roots):
    """On a machine without the experiment's training checkpoints (a fresh clone), its shipped results suffice."""
    import shutil

    results, ckpts = roots
    shutil.rmtree(ckpts / "full" / EXP)
    moved = promote_experiment(EXP, "full", archive=ARCHIVE, results_root=results, checkpoint_root=ckpts)
    assert "checkpoints" not in moved and not (ckpts / "full" / RUN).exists()
    assert json.loads((results / "full" / RUN / "metrics.json").read_text())["run"] == RUN
    (results / "experiments" / "full" / EXP / "audio" / "000_resynth.wav").unlink()
    with pytest.raises(PromoteError, match="clips are missing"):
        promote_experiment(EXP, "full", archive="other", results_root=results, checkpoint_root=ckpts)
    (results / "experiments" / "full" / EXP / "model.pt").unlink()
    with pytest.raises(PromoteError, match="train and evaluate it first"):
        promote_experiment(EXP, "full", archive="other", results_root=results, checkpoint_root=ckpts)
