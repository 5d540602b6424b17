"""Features of excerpts, cached by audio content and extractor.

    <root>/_cache/features/<method>-h<analysis_hop>-v<FEATURE_VERSION>/<sha256[:32]>.npz
        f0_hz, periodicity, loudness_db   float32 [frames]
        seconds                           the f0 extraction's wall time

An entry is found by the sha256 of the excerpt's audio, so audio met again (a rebuild, another
profile, the f0 benchmark) is not extracted again; an unreadable entry is computed again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .excerpts import Excerpt
from .features import extract_f0, loudness_db
from .npz import atomic_savez
from .progress import progress_bar

FEATURE_VERSION = 3  # bump when feature extraction changes (invalidates the feature cache)


def feature_path(cache_dir: Path, method: str, analysis_hop: int, sha: str) -> Path:
    extractor = f"{method}-h{analysis_hop}-v{FEATURE_VERSION}"
    return Path(cache_dir) / "features" / extractor / f"{sha[:32]}.npz"


def cached_features(e: Excerpt, method: str, analysis_hop: int, cache_dir: Path | None):
    """(f0_hz, periodicity, loudness_db, extraction seconds) of an excerpt, from the cache
    or computed (and cached, unless ``cache_dir`` is None)."""
    p = feature_path(cache_dir, method, analysis_hop, e.sha256) if cache_dir else None
    if p is not None and p.is_file():
        try:
            with np.load(p) as z:
                return z["f0_hz"], z["periodicity"], z["loudness_db"], float(z["seconds"])
        except Exception:  # noqa: BLE001 - unreadable cache entry: recompute
            pass
    t0 = time.perf_counter()
    f0, per = extract_f0(e.audio, method=method, analysis_hop=analysis_hop)
    secs = time.perf_counter() - t0
    loud = loudness_db(e.audio)
    if p is not None:
        atomic_savez(p, f0_hz=f0, periodicity=per, loudness_db=loud, seconds=np.float64(secs))
    return f0, per, loud, secs


def compute_features(excerpts: list[Excerpt], method: str, analysis_hop: int, cache_dir: Path,
                     desc: str = "features") -> None:
    """Set f0, periodicity and loudness of every excerpt (a progress bar for those not cached)."""
    cached = [feature_path(cache_dir, method, analysis_hop, e.sha256).is_file() for e in excerpts]
    done = [e for e, c in zip(excerpts, cached) if c]
    todo = [e for e, c in zip(excerpts, cached) if not c]
    for e in done:
        e.f0_hz, e.periodicity, e.loudness, e.f0_seconds = cached_features(
            e, method, analysis_hop, cache_dir)
    if todo:
        for e in progress_bar(todo, desc=desc, unit="excerpt"):
            e.f0_hz, e.periodicity, e.loudness, e.f0_seconds = cached_features(
                e, method, analysis_hop, cache_dir)
