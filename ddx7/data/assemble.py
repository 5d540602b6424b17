"""From excerpts to a dataset on disk: the steps every builder (rendered, URMP, folder) shares.

    features (cached) -> f0 held in the padding -> periodicity filter -> split by piece
    -> f0 benchmark (excerpts with a score) -> split files -> manifest.json

A dataset is complete only when ``manifest.json`` exists: it is removed before the split files are
written and written after them.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import HOP, SAMPLE_RATE
from ..atomic import write_json
from . import audio as A
from .dataset import dataset_dir
from .errors import DataError
from .excerpts import FRAMES, Excerpt
from .f0_benchmark import EXTRACTOR_CHOICE, benchmark_extractors
from .feature_cache import compute_features
from .features import extractor_settings, loudness_settings, pitch_metrics
from .hashing import sha256_file
from .instruments import paper_periodicity_threshold, periodicity_offset, periodicity_threshold
from .manifest import DATA_VERSION, config_key, jsonable, manifest_hash
from .npz import atomic_savez
from .progress import log
from .splits import FRACTIONS, SEED, SPLITS, split_by_time, split_pieces


@dataclass(frozen=True)
class DatasetTarget:
    """What a build makes, ``<root>/<profile>/<instrument>``, and how."""

    profile: str
    instrument: str
    source: str  # "rendered", "urmp" or "folder"
    config: dict  # all the data depends on: its key tells whether a build is up to date
    method: str  # f0 extractor
    analysis_hop: int
    root: Path
    bench_plan: tuple = ()  # [(method, analysis_hop, excerpts)] scored against the score's f0
    extra: dict = field(default_factory=dict)  # more manifest entries (not in its hash)

    @property
    def label(self) -> str:
        return f"{self.profile}/{self.instrument}"

    @property
    def out_dir(self) -> Path:
        return dataset_dir(self.profile, self.instrument, self.root)

    @property
    def cache_dir(self) -> Path:
        return Path(self.root) / "_cache"


@dataclass
class PieceSplit:
    """The kept excerpts and the split of each."""

    kept: list  # [Excerpt] that passed the periodicity filter, in build order
    split_of: dict  # excerpt id -> "train" / "valid" / "test"
    by: str  # "piece", or "time within piece" when there are fewer than 3 pieces
    seconds: dict  # piece -> seconds of kept audio


def assemble_dataset(excerpts: list[Excerpt], skipped: list, target: DatasetTarget, timings: dict,
                     started: float) -> dict:
    """Turn ``excerpts`` into the dataset ``target`` (the steps of the module doc); its manifest.

    ``skipped``: [{"file", "reason"}] of the inputs left out; ``timings``: seconds of the steps
    before (``render_s`` or ``read_s``); ``started``: ``time.perf_counter()`` at the build's start.
    """
    if not excerpts:
        raise DataError(
            f"{target.label}: no usable excerpt (every recording was skipped or shorter "
            f"than {A.MIN_SECONDS:g} s after silence removal): "
            + "; ".join(s["reason"] for s in skipped[:5])
        )
    timings = dict(timings)
    t0 = time.perf_counter()
    compute_features(excerpts, target.method, target.analysis_hop, target.cache_dir,
                     desc=f"{target.label} f0 {target.method}")
    timings["features_s"] = time.perf_counter() - t0
    hold_f0_in_padding(excerpts)
    threshold = periodicity_threshold(target.instrument, target.method)
    kept = filter_by_periodicity(excerpts, threshold, target.label)
    split = split_excerpts(kept, target.label)

    t0 = time.perf_counter()
    bench = []
    if any(e.f0_true is not None for e in kept):
        bench = benchmark_extractors(kept, target.bench_plan, default=(target.method, target.analysis_hop),
                                     desc=target.label, cache_dir=target.cache_dir)
    timings["benchmark_s"] = time.perf_counter() - t0

    out_dir = target.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    mpath = out_dir / "manifest.json"
    if mpath.exists():
        mpath.unlink()
    files = write_splits(split, out_dir)
    manifest = describe(target, excerpts, split, threshold, skipped)
    manifest["manifest_hash"] = manifest_hash(manifest)
    # not hashed: the extractor's rationale, measurements that vary from machine to machine
    manifest["extractor_choice"] = EXTRACTOR_CHOICE
    manifest["f0_benchmark"] = bench
    timings["total_s"] = time.perf_counter() - started
    manifest["build_info"] = build_info(timings, files)
    write_json(mpath, manifest, indent=1)
    stats = manifest["stats"]
    log(f"{target.label}: {stats['excerpts']} excerpts, {stats['minutes']} min, "
        f"{stats['excerpts_dropped_periodicity']} dropped (periodicity < {threshold}), "
        f"{len(skipped)} skipped -> {out_dir}")
    return manifest


def hold_f0_in_padding(excerpts: list[Excerpt]) -> None:
    """The zero-padded tail of a 3-4 s excerpt keeps the f0 of its last real frame."""
    for e in excerpts:
        vf = e.valid_frames
        if vf < FRAMES:
            e.f0_hz = e.f0_hz.copy()
            e.f0_hz[vf:] = e.f0_hz[vf - 1]


def filter_by_periodicity(excerpts: list[Excerpt], threshold: float, label: str) -> list[Excerpt]:
    """The excerpts whose mean periodicity over their valid frames reaches ``threshold`` (each
    excerpt's mean is recorded in its ``info``); DataError when none does."""
    kept = []
    for e in excerpts:
        mp = float(e.periodicity[: e.valid_frames].mean())
        e.info["mean_periodicity"] = round(mp, 4)
        if mp >= threshold:
            kept.append(e)
    if not kept:
        raise DataError(
            f"{label}: all {len(excerpts)} excerpts fall below the mean periodicity "
            f"threshold {threshold} (not monophonic/pitched enough for this instrument?)"
        )
    return kept


def split_excerpts(kept: list[Excerpt], label: str) -> PieceSplit:
    """Whole pieces to each split by duration (:func:`split_pieces`); each piece cut in time
    (:func:`split_by_time`) when there are fewer than 3."""
    seconds: dict = {}
    for e in kept:
        seconds[e.piece] = seconds.get(e.piece, 0.0) + e.n_valid / SAMPLE_RATE
    if len(seconds) >= 3:
        piece_split = split_pieces(seconds, SEED)
        return PieceSplit(kept, {e.id: piece_split[e.piece] for e in kept}, "piece", seconds)
    per_piece: dict = {}
    for e in sorted(kept, key=lambda e: (e.piece, e.source_file, e.offset)):
        per_piece.setdefault(e.piece, []).append(e.id)
    log(f"warning: {label}: only {len(seconds)} piece(s): splitting each piece in time instead "
        "of by piece")
    return PieceSplit(kept, split_by_time(per_piece), "time within piece", seconds)


def _stack(arrs) -> np.ndarray:
    return np.stack(arrs).astype(np.float32) if arrs else np.zeros((0, FRAMES), np.float32)


def write_splits(split: PieceSplit, out_dir: Path) -> dict:
    """``<split>.npz`` of each split, excerpts sorted by id (the layout of :mod:`ddx7.data.dataset`);
    returns {file name: sha256}."""
    files = {}
    has_gt = all(e.f0_true is not None for e in split.kept)
    for s in SPLITS:
        es = sorted((e for e in split.kept if split.split_of[e.id] == s), key=lambda e: e.id)
        arrays = dict(
            audio=np.stack([e.audio for e in es]) if es else np.zeros((0, A.EXCERPT_SAMPLES),
                                                                    np.float32),
            f0_hz=_stack([e.f0_hz for e in es]),
            loudness_db=_stack([e.loudness for e in es]),
            periodicity=_stack([e.periodicity for e in es]),
            n_valid=np.array([e.n_valid for e in es], np.int32),
            offset_s=np.array([e.offset / SAMPLE_RATE for e in es], np.float32),
            excerpt_id=np.array([e.id for e in es], dtype=str),
            piece=np.array([e.piece for e in es], dtype=str),
        )
        if has_gt:
            arrays["f0_true_hz"] = _stack([e.f0_true for e in es])
        atomic_savez(out_dir / f"{s}.npz", **arrays)
        files[f"{s}.npz"] = sha256_file(out_dir / f"{s}.npz")
    return files


def describe(target: DatasetTarget, excerpts: list[Excerpt], split: PieceSplit, threshold: float,
             skipped: list) -> dict:
    """The manifest up to its hash: settings, statistics, pieces, every excerpt, skipped inputs."""
    method, instrument = target.method, target.instrument
    return {
        "schema": f"ddx7-data/{DATA_VERSION}",
        "profile": target.profile,
        "instrument": instrument,
        "source": target.source,
        "config": jsonable(target.config),
        "config_key": config_key(target.config),
        "sample_rate": SAMPLE_RATE,
        "hop": HOP,
        "excerpt_samples": A.EXCERPT_SAMPLES,
        "frames": FRAMES,
        "preprocessing": {
            "peak_normalise": "per recording", "split_top_db": A.TOP_DB,
            "excerpt_seconds": A.EXCERPT_SECONDS, "drop_chunks_le_seconds": A.MIN_SECONDS,
            "padding": "zeros at the end to 4 s; features on the padded excerpt, f0 in the "
                       "padded tail held at the last real frame's value",
        },
        "extractor": extractor_settings(method, target.analysis_hop),
        "loudness": loudness_settings(),
        "periodicity_filter": {
            "threshold": threshold, "paper_threshold": paper_periodicity_threshold(instrument),
            "extractor_offset": periodicity_offset(instrument, method),
            "statistic": "mean periodicity over the excerpt's valid (unpadded) frames",
            "calibration": "paper threshold (CREPE full) minus the median amount by which this "
                           "extractor's mean periodicity reads below full's on the rendered corpus",
        },
        "split": {"by": split.by, "seed": SEED, "fractions": dict(zip(SPLITS, FRACTIONS))},
        "stats": _stats(split, len(excerpts) - len(split.kept), len(skipped)),
        "pieces": _pieces(split),
        "excerpts": _excerpt_rows(excerpts, split.split_of, threshold),
        "skipped": skipped,
        **target.extra,
    }


def _minutes(es: list[Excerpt]) -> float:
    return round(sum(e.n_valid for e in es) / SAMPLE_RATE / 60.0, 3)


def _stats(split: PieceSplit, dropped: int, skipped: int) -> dict:
    of_split = {s: [e for e in split.kept if split.split_of[e.id] == s] for s in SPLITS}
    return {
        "excerpts": {s: len(es) for s, es in of_split.items()},
        "minutes": {s: _minutes(es) for s, es in of_split.items()},
        "pieces": {s: len({e.piece for e in es}) for s, es in of_split.items()},
        "minutes_total": _minutes(split.kept),
        "excerpts_dropped_periodicity": dropped,
        "files_skipped": skipped,
    }


def _pieces(split: PieceSplit) -> list[dict]:
    rows = []
    for p in sorted(split.seconds):
        es = [e for e in split.kept if e.piece == p]
        rows.append({"piece": p, "split": split.split_of[es[0].id], "excerpts": len(es),
                     "seconds": round(split.seconds[p], 3),
                     "sources": sorted({e.source_file for e in es})})
    return rows


def _excerpt_rows(excerpts: list[Excerpt], split_of: dict, threshold: float) -> list[dict]:
    """Every excerpt, kept or dropped, sorted by id; with its f0's raw pitch accuracy when the
    score's f0 is known."""
    rows = []
    for e in sorted(excerpts, key=lambda e: e.id):
        row = {"id": e.id, "piece": e.piece, "source_file": e.source_file,
               "offset_s": round(e.offset / SAMPLE_RATE, 4), "n_valid": e.n_valid,
               "split": split_of.get(e.id), "sha256": e.sha256,
               "mean_periodicity": e.info["mean_periodicity"]}
        if e.id not in split_of:
            row["dropped"] = f"mean periodicity {e.info['mean_periodicity']:.3f} < {threshold}"
        if e.f0_true is not None:
            m = pitch_metrics(e.f0_hz, e.f0_true, e.f0_mask)
            row["f0_rpa"] = None if np.isnan(m["rpa"]) else round(m["rpa"], 4)
        rows.append(row)
    return rows


def build_info(timings: dict, files: dict) -> dict:
    """Where, when and how fast the dataset was built (not hashed)."""
    return {
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "files_sha256": files,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
