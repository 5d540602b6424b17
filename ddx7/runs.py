"""Experiments as data: one YAML file per run in ``ddx7/configs/runs``, each overriding a base config.

A run's config is resolved as: its ``base:`` chain (one file or a list of them, deep-merged in order, base
first) → the run file → the
``profiles.<profile>`` section of the result (the budget for that profile). The resolved config is
what a checkpoint and every metrics file store.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import yaml

from . import FRAME_RATE
from .synth.patches import parse_imax

CONFIG_DIR = Path(__file__).parent / "configs"
RUNS_DIR = CONFIG_DIR / "runs"
# Recipe experiments (a run plus a few lines; not part of the paper's grid, so `ddx7 runs` and
# `--all` leave them out): `ddx7 train NAME` finds them by name.
EXPERIMENTS_DIR = CONFIG_DIR / "experiments"
PROFILES = ("smoke", "quick", "full", "paper")


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base``, dicts recursively; a key set to null (None) in ``override``
    is removed, so that a config can undo a key its base added (the code default applies again)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_chain(path: Path, seen=()) -> dict:
    if path in seen:
        raise ValueError(f"config {path.name}: 'base' chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path}") from None
    base = data.pop("base", None)
    if base is None:
        return data
    merged: dict = {}
    for one in base if isinstance(base, list) else [base]:  # several bases: merged in order, then the file itself
        merged = deep_merge(merged, _load_chain((path.parent / one) if (path.parent / one).exists()
                                                else CONFIG_DIR / one, seen + (path,)))
    return deep_merge(merged, data)


def list_runs() -> list[str]:
    return sorted(p.stem for p in RUNS_DIR.glob("*.yaml"))


def run_config(name: str, profile: str = "quick") -> dict:
    """The resolved config of run ``name`` for ``profile``."""
    path = RUNS_DIR / f"{name}.yaml"
    if not path.exists() and (EXPERIMENTS_DIR / f"{name}.yaml").exists():
        path = EXPERIMENTS_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"unknown run {name!r}; `ddx7 runs` lists them: {', '.join(list_runs())}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    cfg = _load_chain(path)
    profiles = cfg.pop("profiles", {})
    cfg = deep_merge(cfg, profiles.get(profile, {}))
    cfg["name"] = name
    cfg["profile"] = profile
    if cfg["model"]["kind"] == "ddx7":
        cfg["model"]["imax"] = parse_imax(cfg["model"]["imax"])
    return cfg


def model_kwargs(cfg: dict) -> dict:
    """Constructor arguments for ddx7.models.build_model."""
    m = dict(cfg["model"])
    kind = m.pop("kind")
    return {"model": kind, **m}


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


# What a run may change and still continue from its checkpoint: its length, when its snapshots are kept, and
# labels. Anything else (model, loss, data, optimiser, seed) makes the checkpoint another run's.
RESUMABLE_KEYS = ("train.steps", "train.snapshot_steps", "tables", "name", "profile")


def config_changes(old: dict | None, new: dict, prefix: str = "") -> list[str]:
    """The settings in which run config ``new`` differs from ``old`` (the one a checkpoint was trained
    with), as ``"key: old → new"``, ignoring RESUMABLE_KEYS; none when ``old`` is None (a checkpoint of a
    version that did not store its config)."""
    if old is None:
        return []
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        if path in RESUMABLE_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{path}.")
        elif a != b:
            changes.append(f"{path}: {a} → {b}")
    return changes


def describe_run(name: str, profile: str = "quick") -> dict:
    cfg = run_config(name, profile)
    m, t = cfg["model"], cfg["train"]
    return {
        "run": name, "instrument": cfg["data"]["instrument"], "model": m["kind"],
        "patch": m.get("patch", "harmonic+noise"), "imax": round(m["imax"], 3) if "imax" in m else None,
        "tables": ",".join(str(x) for x in cfg.get("tables", [])), "steps": t["steps"], "batch": t["batch_size"],
        "excerpt_s": t["excerpt_frames"] / FRAME_RATE,
    }
