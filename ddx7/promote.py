"""A recipe experiment becomes its grid run, once the profile's recipe is what the experiment trained.

The grid is retrained under a candidate recipe as experiments (``<run>--<variant>``, ddx7/configs/experiments)
while the published runs stay as they are; when the recipe is adopted (the profile's config changed so that
``<run>`` resolves to what ``<run>--<variant>`` trained), each experiment *is* its run: its checkpoints and its
evaluated results are copied in under the run's name instead of being trained a second time. The run it replaces
is kept as the experiment ``<run>--<archive>`` (its config file must say what that recipe was), so that the
book's recipe tables keep the old numbers.

    promote_experiment("violin-6osc-imax2--quiet-oversample2", "full", archive="recipe3")

Nothing is overwritten: an archive that exists already, or a run replaced without an archive, is refused before
anything moves. Training checkpoints are copied where the machine has them (the results alone are enough to
publish: ``resynth``, the book and the pages read the shipped model.pt and clips). The copied results are what
``ddx7 eval`` writes, with the run's name in place of the experiment's (metrics.json's ``run``, ``config.name``,
``checkpoint``; the shipped model's ``run_config``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from .atomic import torch_save, write_json
from .checkpoints import CHECKPOINT_ROOT, run_dir
from .eval.evaluate import write_metrics_csv
from .runs import config_changes, config_hash, run_config


class PromoteError(ValueError):
    """The experiment cannot replace its run; the message says why and what to do."""


def _renamed_metrics(metrics: dict, name: str, old: str) -> dict:
    out = dict(metrics, run=name, config=dict(metrics["config"], name=name))
    if "checkpoint" in out:
        parts = Path(out["checkpoint"]).parts
        out["checkpoint"] = str(Path(*[name if p == old else p for p in parts]))
    return out


def _copy_results(src: Path, dst: Path, metrics: dict, name: str, old: str) -> None:
    """``src`` (an evaluated run's results folder, ``metrics`` its metrics.json) copied to ``dst`` under the run
    name ``name``, through a temporary folder renamed into place."""
    tmp = dst.with_name(f".{dst.name}.promote-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    write_json(tmp / "metrics.json", _renamed_metrics(metrics, name, old))
    if (tmp / "model.pt").exists():
        shipped = torch.load(tmp / "model.pt", map_location="cpu", weights_only=True)
        shipped["run_config"] = dict(shipped["run_config"], name=name)
        torch_save(shipped, tmp / "model.pt")
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)


def promote_experiment(experiment: str, profile: str, archive: str | None = None, results_root="results",
                       checkpoint_root=None) -> dict:
    """Make ``experiment`` (``<run>--<variant>``) the run ``<run>`` (module doc); with ``archive``, keep the run
    it replaces as the experiment ``<run>--<archive>``. Returns what moved, as ``{what: path}``."""
    run, sep, _ = experiment.partition("--")
    if not sep:
        raise PromoteError(f"{experiment} is not an experiment name (<run>--<variant>)")
    changes = config_changes(run_config(experiment, profile), run_config(run, profile))
    if changes:
        raise PromoteError(f"{experiment} trained another config than today's {run} ({'; '.join(changes)}): change "
                           f"the {profile} profile's recipe first, or train {run} itself")
    results, ckpts = Path(results_root), Path(checkpoint_root or CHECKPOINT_ROOT)
    exp_results, exp_ckpt = results / "experiments" / profile / experiment, run_dir(experiment, profile, ckpts)
    for path in (exp_results / "metrics.json", exp_results / "model.pt"):  # the shipped model: all a reader needs
        if not path.exists():
            raise PromoteError(f"{experiment} has no {path}: train and evaluate it first "
                               f"(`ddx7 train {experiment} --profile {profile}`, `ddx7 eval {experiment} --profile "
                               f"{profile} --results {results / 'experiments'}`)")
    metrics = json.loads((exp_results / "metrics.json").read_text())
    missing = [f for c in metrics.get("clips", []) for k, f in c.items()
               if k != "excerpt" and not (exp_results / f).exists()]
    if missing:
        raise PromoteError(f"{experiment}'s clips are missing ({missing[0]} and {len(missing) - 1} more): evaluate "
                           f"it again (`ddx7 eval {experiment} --profile {profile} --results "
                           f"{results / 'experiments'}`)")
    run_results, run_ckpt = results / profile / run, run_dir(run, profile, ckpts)
    moved = {}
    if archive:
        kept = f"{run}--{archive}"
        kept_results, kept_ckpt = results / "experiments" / profile / kept, run_dir(kept, profile, ckpts)
        for path in (kept_results, kept_ckpt):
            if path.exists():
                raise PromoteError(f"{kept} exists already ({path}): nothing moved; remove it or archive under "
                                   "another name")
        old = json.loads((run_results / "metrics.json").read_text()) if (run_results / "metrics.json").exists() \
            else None
        if old is not None:
            expected = run_config(kept, profile)  # raises for a missing config file, naming it
            if config_hash(dict(old["config"], name=kept)) != config_hash(expected):
                diff = config_changes(old["config"], expected)
                raise PromoteError(f"{run}'s published config is not {kept}'s ({'; '.join(diff) or 'name'}): "
                                   f"make ddx7/configs/experiments/{kept}.yaml say what {run} was trained with")
            kept_results.mkdir(parents=True)
            write_json(kept_results / "metrics.json", _renamed_metrics(old, kept, run))
            if (run_results / "train_log.csv").exists():
                shutil.copy2(run_results / "train_log.csv", kept_results / "train_log.csv")
            moved["archived results"] = str(kept_results)
        if run_ckpt.exists():
            run_ckpt.rename(kept_ckpt)
            moved["archived checkpoints"] = str(kept_ckpt)
    elif run_ckpt.exists() or (run_results / "metrics.json").exists():
        raise PromoteError(f"{run} is trained already ({run_ckpt} or {run_results}): pass an archive name to keep "
                           "it as an experiment, or remove it")
    if exp_ckpt.exists():  # the training checkpoints stay on the machine that trained them: copied where they are
        shutil.copytree(exp_ckpt, run_ckpt, ignore=shutil.ignore_patterns(".lock", "*.tmp"))
        moved["checkpoints"] = str(run_ckpt)
    run_results.parent.mkdir(parents=True, exist_ok=True)
    _copy_results(exp_results, run_results, metrics, run, experiment)
    moved["results"] = str(run_results)
    write_metrics_csv(profile, results)
    write_metrics_csv(profile, results / "experiments")
    return moved
