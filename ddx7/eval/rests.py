"""Do detached notes stop? The level of the rests between notes in a rendering against the input's.

A resynthesis that keeps sounding between detached notes (a long learned reverb tail, envelopes that do not
close) sits far above the input there, yet barely moves the spectral loss, which the notes dominate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ..data.features import loudness_db


def rest_levels(original: np.ndarray, renders: dict[str, np.ndarray], below_db: float = 20.0) -> dict[str, float]:
    """The rests of ``original`` are its frames at least ``below_db`` under its notes' level (the 90th
    percentile of its frame loudness); for the original and each rendering, the mean loudness on those
    frames minus the signal's own notes' level, in dB (NaN without rests), and the number of rest frames."""
    lo = loudness_db(np.asarray(original, dtype=np.float32))
    rests = lo < np.percentile(lo, 90) - below_db
    out = {}
    for name, audio in {"input": original, **renders}.items():
        ld = loudness_db(np.asarray(audio, dtype=np.float32))[:len(lo)]
        out[name] = float(ld[rests].mean() - np.percentile(ld, 90)) if rests.any() else float("nan")
    out["rest frames"] = int(rests.sum())
    return out


def rests_above_input_db(pairs, below_db: float = 20.0) -> float | None:
    """Over (original, rendering) pairs with rests, the mean of the rendering's rest level minus the
    input's (rest_levels), in dB: 0 when the notes stop as in the input; None when no pair has rests."""
    excess = []
    for original, render in pairs:
        levels = rest_levels(original, {"render": render}, below_db)
        if levels["rest frames"]:
            excess.append(levels["render"] - levels["input"])
    return float(np.mean(excess)) if excess else None


def clip_rests_above_input_db(run_dir: Path, clips: list[dict], below_db: float = 20.0) -> float | None:
    """rests_above_input_db of a run's shipped clips (metrics.json ``clips``, paths relative to ``run_dir``)."""
    read = lambda rel: sf.read(Path(run_dir) / rel, dtype="float32")[0]  # noqa: E731
    return rests_above_input_db(((read(c["original"]), read(c["resynth"])) for c in clips), below_db)
