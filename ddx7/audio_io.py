"""Writing audio files safely: the format checked before any work, atomic writes, bounded memory.

* :func:`check_output` — the checks on an output path that must come before the work: an audio
  format we can write (by extension), not a directory, not one of the command's input files.
* :func:`write_audio` — one array to a file, atomically (``ddx7.atomic``).
* :class:`Spool` — float32 audio of any length in an unnamed temporary file (it vanishes with the
  process), appended block by block while its peak is tracked, read back in blocks: how long
  recordings pass through resynthesis and streaming in bounded memory.
* :func:`write_spool` — a spool to a file, peak-limited if asked, atomically, block by block.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write

# extension → (soundfile format, subtype). 16-bit PCM where the format has it.
OUTPUT_FORMATS = {
    ".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".aif": ("AIFF", "PCM_16"),
    ".aiff": ("AIFF", "PCM_16"), ".ogg": ("OGG", "VORBIS"), ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def output_format(path) -> tuple[str, str]:
    """(format, subtype) for an output file name, or a ValueError naming the ones we write."""
    import soundfile as sf

    suffix = Path(path).suffix.lower()
    names = ", ".join(OUTPUT_FORMATS)
    if suffix not in OUTPUT_FORMATS:
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise ValueError(f"output {path}: {what} is not an audio format we write; end the name with one of {names}")
    fmt, subtype = OUTPUT_FORMATS[suffix]
    if not sf.check_format(fmt, subtype):
        raise ValueError(f"output {path}: this machine's libsndfile cannot write {fmt}/{subtype}; use .wav or .flac")
    return fmt, subtype


def check_output(path, inputs=()) -> Path:
    """Refuse, before any work, an output that cannot be written or would destroy an input."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output {path} is a directory: give a file name, e.g. {path / 'out.wav'}")
    output_format(path)
    for source in inputs:
        if source is not None and _same_file(path, source):
            raise ValueError(f"output {path} is the input file {source}: writing it would destroy the input; "
                             "choose another -o")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"output {path}: {parent} is a file, not a folder")
    return path


def _same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.absolute().resolve() == b.absolute().resolve()


def write_audio(path, audio, sample_rate: int) -> Path:
    """Mono audio to ``path`` (format from the extension, see OUTPUT_FORMATS), atomically."""
    import soundfile as sf

    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise ValueError(f"refusing to write {path}: audio contains NaN or infinite samples")
    fmt, subtype = output_format(path)
    return atomic_write(path, lambda f: sf.write(f, audio, sample_rate, format=fmt, subtype=subtype))


class Spool:
    """float32 mono audio in an anonymous temporary file: ``append`` blocks, read them back with
    ``blocks``/``read``; ``peak`` is the largest |sample| appended. Memory stays one block."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self.samples = 0
        self.peak = 0.0

    def append(self, block) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 1:
            raise ValueError(f"spool blocks are 1-D, got shape {block.shape}")
        if not np.isfinite(block).all():
            raise ValueError("audio contains NaN or infinite samples")
        self._file.seek(0, os.SEEK_END)
        self._file.write(block.tobytes())
        self.samples += len(block)
        if len(block):
            self.peak = max(self.peak, float(np.abs(block).max()))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop), zeros where the range lies outside the spool."""
        out = np.zeros(max(0, stop - start), np.float32)
        lo, hi = max(start, 0), min(stop, self.samples)
        if hi > lo:
            self._file.seek(4 * lo)
            out[lo - start: hi - start] = np.frombuffer(self._file.read(4 * (hi - lo)), np.float32)
        return out

    def blocks(self, size: int = 1 << 16):
        for start in range(0, self.samples, size):
            yield self.read(start, min(start + size, self.samples))

    def array(self) -> np.ndarray:
        return self.read(0, self.samples)

    def __len__(self):
        return self.samples

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_spool(path, spool: Spool, sample_rate: int, limit: bool = False) -> Path:
    """A spool to ``path`` (format from the extension), atomically, block by block; ``limit``: through
    :func:`ddx7.limiter.limited_blocks` (within 0.99 of full scale, gain only around the overs)."""
    import soundfile as sf

    from .limiter import limited_blocks

    fmt, subtype = output_format(path)

    def write(f):
        with sf.SoundFile(f, "w", sample_rate, 1, subtype=subtype, format=fmt) as out:
            for block in limited_blocks(spool) if limit else spool.blocks():
                out.write(block)

    return atomic_write(path, write)
