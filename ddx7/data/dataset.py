"""Reading built datasets: ``load_split`` and ``load_manifest`` (what training and evaluation read),
and ``ExcerptDataset``, a torch ``Dataset`` over a split for your own training loops.

Layout (``data/`` is git-ignored)::

    data/<profile>/<instrument>/train.npz   valid.npz   test.npz   manifest.json
    data/_cache/...                          (rendered pieces, per-excerpt features)

Each split file holds, for N excerpts of 4 s at 16 kHz (1000 frames at hop 64):

    audio        float32 [N, 64000]   peak-normalised per recording, zero-padded after n_valid
    f0_hz        float32 [N, 1000]    the manifest's extractor (centred frames); raw on unvoiced
                                      frames (as in the paper), held in the zero-padded tail
    loudness_db  float32 [N, 1000]    A-weighted, ref 20.7 dB, floor -80 dB
    periodicity  float32 [N, 1000]    CREPE confidence, or pyin voiced probability
    f0_true_hz   float32 [N, 1000]    rendered corpus only: the score's f0 (0 = no note)
    n_valid      int32   [N]          real (unpadded) samples
    offset_s     float32 [N]          start in the source recording (after resampling)
    excerpt_id   str     [N]          also the key of the excerpt in manifest.json
    piece        str     [N]          splits are disjoint by piece

A dataset is complete only when ``manifest.json`` exists: a build removes it first and writes it
last, and every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import DataError
from .splits import SPLITS

ARRAY_KEYS = ("audio", "f0_hz", "loudness_db", "periodicity")


def dataset_dir(profile: str, instrument: str, root="data") -> Path:
    return Path(root) / profile / instrument


def load_manifest(profile: str, instrument: str, root="data") -> dict:
    """The manifest of a built dataset (DataError if it is missing: build it first)."""
    path = dataset_dir(profile, instrument, root) / "manifest.json"
    if not path.is_file():
        raise DataError(
            f"no dataset at {path.parent} (manifest.json missing): build it with "
            f"`ddx7 data build --profile {profile} --instruments {instrument}`"
        )
    return json.loads(path.read_text())


def load_split(profile: str, instrument: str, split: str, root="data") -> dict:
    """Arrays of one split: {"audio": [N, 64000], "f0_hz": [N, 1000], "loudness_db",
    "periodicity", "n_valid", "offset_s", "excerpt_id", "piece", ...} (numpy)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {SPLITS}")
    manifest = load_manifest(profile, instrument, root)
    path = dataset_dir(profile, instrument, root) / f"{split}.npz"
    if not path.is_file():
        raise DataError(f"{path}: split file missing although the manifest exists; rebuild")
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["manifest_hash"] = manifest["manifest_hash"]
    return out


class ExcerptDataset:
    """torch ``Dataset`` over one split: item i -> dict of float tensors
    ``audio`` [64000], ``f0_hz`` [1000], ``loudness_db`` [1000], ``periodicity`` [1000].
    (``ddx7 train`` does not use it: :func:`ddx7.train.load_dataset` reads the splits whole.)"""

    def __init__(self, profile: str, instrument: str, split: str, root="data", keys=ARRAY_KEYS):
        import torch

        d = load_split(profile, instrument, split, root)
        self.manifest_hash = d["manifest_hash"]
        self.excerpt_id = d["excerpt_id"]
        self.piece = d["piece"]
        self.tensors = {k: torch.from_numpy(np.ascontiguousarray(d[k])) for k in keys}

    def __len__(self) -> int:
        return len(self.excerpt_id)

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.tensors.items()}
