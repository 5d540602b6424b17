"""Content hashes of the data pipeline: excerpt audio, split files, configurations, manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical_hash(obj) -> str:
    """sha256 of ``obj`` as compact JSON with sorted keys: equal content, equal hash."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())
