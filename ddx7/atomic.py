"""The one way ddx7 writes a file: all of it or none of it, with the mode a plain ``open`` would give.

``atomic_write(path, write)`` calls ``write(f)`` on a temporary file beside ``path``, flushes and
fsyncs it, gives it the mode of the file it replaces (or, for a new file, 0o666 less the umask,
as ``open`` does; ``mkstemp`` alone would leave 0o600), and renames it over ``path``. A failure or
an exception (Ctrl-C included) removes the temporary file; a SIGKILL can leave one behind, named
``.<name>.<random>.tmp``, which :func:`remove_stale_temps` clears.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    try:  # Linux: readable without changing it (os.umask would, for every thread, for a moment)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(path) -> int:
    """The mode ``path`` keeps if it exists, else the one ``open(path, "w")`` would create it with."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def atomic_write(path, write: Callable, text: bool = False) -> Path:
    """Write ``path`` through ``write(file)`` on a temporary file, then rename (see the module doc)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w" if text else "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), text=True)


def write_json(path, obj, indent: int = 2) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n")


def write_csv(path, frame) -> Path:
    """A pandas DataFrame as CSV (no index column)."""
    return atomic_write(path, lambda f: frame.to_csv(f, index=False), text=True)


def torch_save(obj, path) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def remove_stale_temps(path) -> list[Path]:
    """Remove the temporary files a killed writer of ``path`` left beside it; returns them."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"))
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale
