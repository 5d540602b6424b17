"""Reading and writing audio files safely (atomic writes: nothing half-written on failure)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def write_wav(path, audio, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write mono audio to ``path`` through a temporary file in the same folder, then rename."""
    import soundfile as sf

    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise ValueError(f"refusing to write {path}: audio contains NaN or infinite samples")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix or ".wav", dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        sf.write(tmp, audio, sample_rate, subtype=subtype)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
