"""Your own recordings: every audio file under a folder, through the paper's pipeline.

Any format soundfile reads (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...) at any sample rate;
stereo is downmixed, audio resampled to 16 kHz. Each file is one *piece* for the split (name it
by its path relative to the folder), so put one take or movement per file.

    ddx7 data folder --dir ~/recordings/cello --instrument cello

The instrument name is free (it names the output folder ``data/folder/<name>/``); the periodicity
threshold is the paper's (0.80 for "flute", 0.85 for anything else) less the f0 extractor's offset
(:func:`ddx7.data.instruments.periodicity_threshold`).
"""

from __future__ import annotations

from pathlib import Path

from .audio import AUDIO_EXTENSIONS
from .build import build_recordings
from .errors import DataError
from .instruments import check_name


def find_audio_files(directory) -> list[tuple[Path, str]]:
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"{d}: not a folder")
    files = sorted(p for p in d.rglob("*")
                   if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise DataError(f"{d}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return [(p, p.relative_to(d).with_suffix("").as_posix()) for p in files]


def build_folder(directory, instrument: str, *, extractor=None, analysis_hop=None, root="data",
                 profile: str = "folder", force: bool = False) -> dict:
    """Build ``<root>/<profile>/<instrument>`` from a folder of recordings."""
    check_name(instrument)
    files = find_audio_files(directory)
    return {instrument: build_recordings(
        files, base=Path(directory), profile=profile, instrument=instrument, source="folder",
        extractor=extractor, analysis_hop=analysis_hop, root=root, force=force)}
