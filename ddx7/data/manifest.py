"""What identifies a built dataset: the key of its configuration and the hash of its manifest.

``config_key``: the configuration a build was asked for (with :data:`DATA_VERSION`); a dataset
whose manifest records the same key, with all its split files present, is up to date.
``manifest_hash``: the dataset itself (settings, pieces, every excerpt's source, offset, split and
audio sha256); results record it to say which data they were computed on.
"""

from __future__ import annotations

import json
from pathlib import Path

from .hashing import canonical_hash
from .progress import log
from .splits import SPLITS

DATA_VERSION = 4  # bump when the dataset a configuration produces changes (rebuilds)

_IDENTITY_KEYS = ("schema", "profile", "instrument", "source", "sample_rate", "hop",
                  "excerpt_samples", "frames", "preprocessing", "extractor", "loudness",
                  "periodicity_filter", "split", "pieces")
_EXCERPT_IDENTITY = ("id", "piece", "source_file", "offset_s", "n_valid", "split", "sha256")


def jsonable(obj):
    """``obj`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(obj))


def config_key(config: dict) -> str:
    return canonical_hash(jsonable(dict(config, data_version=DATA_VERSION)))


def up_to_date(out_dir: Path, config: dict) -> dict | None:
    """The manifest in ``out_dir`` if it was built from ``config`` and its split files are there."""
    mpath = out_dir / "manifest.json"
    if not mpath.is_file():
        return None
    try:
        man = json.loads(mpath.read_text())
    except Exception:  # noqa: BLE001
        return None
    if man.get("config_key") != config_key(config):
        return None
    if not all((out_dir / f"{s}.npz").is_file() for s in SPLITS):
        return None
    return man


def existing_build(out_dir: Path, config: dict, label: str, force: bool = False) -> dict | None:
    """The manifest of an up-to-date build of ``config`` in ``out_dir`` (logged as skipped), else None."""
    done = None if force else up_to_date(out_dir, config)
    if done is not None:
        log(f"{label}: up to date ({done['manifest_hash'][:12]}), skipping")
    return done


def manifest_hash(manifest: dict) -> str:
    """sha256 identifying a dataset: settings, pieces and, per excerpt, its source, offset,
    split and the sha256 of its audio. Machine-dependent things (paths, file times, timings,
    feature values, benchmark numbers) are left out, so the same data built elsewhere has the
    same hash."""
    ident = {k: manifest.get(k) for k in _IDENTITY_KEYS}
    ident["excerpts"] = [{k: e.get(k) for k in _EXCERPT_IDENTITY} for e in manifest["excerpts"]]
    ident["skipped"] = sorted(s["file"] for s in manifest.get("skipped", []))
    return canonical_hash(ident)
