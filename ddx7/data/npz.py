"""``.npz`` files of the data pipeline, written all or nothing by :func:`ddx7.atomic.atomic_write`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_write


def atomic_savez(path: Path, compressed: bool = False, **arrays) -> None:
    """``np.savez`` (or ``savez_compressed``) of ``arrays`` to ``path``, atomically."""
    save = np.savez_compressed if compressed else np.savez
    atomic_write(path, lambda f: save(f, **arrays))
