"""Data cards: what the data chapter shows about a dataset, small enough to commit.

The full dataset is ~300 MB and takes about an hour to render, so it is not committed. A card keeps
what ``notebooks/01_data.ipynb`` needs to describe it without rebuilding it: the manifest (pieces,
excerpts with their sha256, extractor benchmark, manifest hash), every excerpt's frame features in
float16 (f0, loudness, periodicity, the score's f0), and the audio of the few excerpts the chapter
plays (chosen by :func:`example_indices`)::

    results/<profile>/data/<instrument>/manifest.json
    results/<profile>/data/<instrument>/card.npz

``ddx7 data card --profile full`` writes them from a built dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import write_bytes
from .dataset import load_manifest, load_split
from .errors import DataError
from .npz import atomic_savez
from .splits import SPLITS

FEATURE_KEYS = ("f0_hz", "loudness_db", "periodicity", "f0_true_hz")
META_KEYS = ("n_valid", "excerpt_id", "piece")


def example_indices(n: int, n_examples: int) -> list[int]:
    """The excerpts of a split that the data chapter plays: evenly spaced, first and last included."""
    if n <= 0:
        return []
    k = min(n, max(1, n_examples // 2 + 1))
    return sorted(set(np.linspace(0, n - 1, k).astype(int).tolist()))


class ExampleAudio:
    """``audio[i]`` for the excerpts kept in a card; a clear error for the others."""

    def __init__(self, index, audio, where: str):
        self._audio = {int(i): a for i, a in zip(index, audio)}
        self._where = where

    def __getitem__(self, i):
        try:
            return self._audio[int(i)].astype(np.float32)
        except KeyError:
            raise DataError(f"{self._where} keeps the audio of excerpts {sorted(self._audio)} only, "
                            f"not of excerpt {i}: build the dataset for the rest") from None

    def __len__(self) -> int:
        return len(self._audio)


def card_dir(profile: str, instrument: str, results_root="results") -> Path:
    return Path(results_root) / profile / "data" / instrument


def write_card(profile: str, instrument: str, root="data", results_root="results", n_examples: int = 3) -> Path:
    """Write the card of a built dataset (atomically: temp file + rename); returns its folder."""
    manifest = load_manifest(profile, instrument, root)
    out = card_dir(profile, instrument, results_root)
    arrays = {}
    for split in SPLITS:
        d = load_split(profile, instrument, split, root)
        for key in FEATURE_KEYS:
            if key in d:
                arrays[f"{split}/{key}"] = np.asarray(d[key], dtype=np.float16)
        for key in META_KEYS:
            arrays[f"{split}/{key}"] = np.asarray(d[key])
        idx = example_indices(len(d["excerpt_id"]), n_examples)
        arrays[f"{split}/audio_index"] = np.asarray(idx, dtype=np.int64)
        arrays[f"{split}/audio"] = np.asarray(d["audio"], dtype=np.float32)[idx].astype(np.float16)
    atomic_savez(out / "card.npz", compressed=True, **arrays)
    write_bytes(out / "manifest.json", (Path(root) / profile / instrument / "manifest.json").read_bytes())
    if json.loads((out / "manifest.json").read_text())["manifest_hash"] != manifest["manifest_hash"]:
        raise DataError(f"{out}: manifest changed while the card was written; run it again")
    return out


def has_card(profile: str, instrument: str, results_root="results") -> bool:
    d = card_dir(profile, instrument, results_root)
    return (d / "manifest.json").is_file() and (d / "card.npz").is_file()


def card_manifest(profile: str, instrument: str, results_root="results") -> dict | None:
    """The committed card's manifest, None when there is none."""
    path = card_dir(profile, instrument, results_root) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_card(profile: str, instrument: str, results_root="results") -> tuple[dict, dict]:
    """(manifest, splits) from a card; splits look like :func:`load_split`'s, with float32 features
    and ``audio`` holding only the example excerpts."""
    d = card_dir(profile, instrument, results_root)
    if not has_card(profile, instrument, results_root):
        raise DataError(f"no data card at {d}: write one with `ddx7 data card --profile {profile} "
                        f"--instruments {instrument}` from a built dataset")
    manifest = card_manifest(profile, instrument, results_root)
    try:
        z = np.load(d / "card.npz", allow_pickle=False)
        splits = {}
        for split in SPLITS:
            s = {key: z[f"{split}/{key}"].astype(np.float32) for key in FEATURE_KEYS if f"{split}/{key}" in z}
            s.update({key: z[f"{split}/{key}"] for key in META_KEYS})
            s["audio"] = ExampleAudio(z[f"{split}/audio_index"], z[f"{split}/audio"], str(d / "card.npz"))
            splits[split] = s
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{d / 'card.npz'} is not a readable data card ({e}); write it again") from e
    return manifest, splits


def manifest_or_card(profile: str, instrument: str, root="data", results_root="results") -> dict:
    """The built dataset's manifest, else the committed card's (``results/<profile>/data/<instrument>``): what needs
    only the manifest (the split's pieces, its hash), such as ``ddx7 eval-unseen``, runs where the data is not built.
    Neither: the DataError that says how to build it."""
    try:
        return load_manifest(profile, instrument, root)
    except DataError:
        manifest = card_manifest(profile, instrument, results_root)
        if manifest is not None:
            return manifest
        raise
