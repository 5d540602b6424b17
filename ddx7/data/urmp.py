"""URMP solo stems (the paper's data), in URMP's own folder layout.

URMP (Li et al. 2018) has one folder per piece, e.g. ``01_Jupiter_vn_vc/``, holding the separated
stems ``AuSep_<track>_<code>_<piece>.wav`` (``AuSep_1_vn_01_Jupiter.wav``) next to the mix,
scores and f0 annotations. We read the stems of violin (vn), flute (fl) and trumpet (tpt); the
piece (folder name) is the unit of the train/valid/test split, so two violin stems of one piece
always land in the same split. Preprocessing is the paper's (:mod:`ddx7.data.audio`).

    ddx7 data urmp --root /path/to/URMP/Dataset [--instruments violin flute] [--extractor full]
"""

from __future__ import annotations

import re
from pathlib import Path

from .build import build_recordings
from .errors import DataError
from .instruments import INSTRUMENTS, get_instrument
from .progress import log

STEM_RE = re.compile(r"^AuSep_(\d+)_([a-z]+)_(\d+)_(.+)\.wav$", re.I)


def find_stems(root, instrument: str) -> list[tuple[Path, str]]:
    """[(stem path, piece folder name)] of one instrument; DataError if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"URMP root {root} does not exist or is not a folder")
    code = get_instrument(instrument).urmp
    out = []
    for p in sorted(root.rglob("AuSep_*")):
        m = STEM_RE.match(p.name)
        if m and m.group(2).lower() == code and p.is_file():
            out.append((p, p.parent.name))
    if not out:
        raise DataError(
            f"URMP root {root}: no {instrument} stems (expected <piece folder>/"
            f"AuSep_<n>_{code}_<piece>.wav, e.g. 01_Jupiter_vn_vc/AuSep_1_vn_01_Jupiter.wav)"
        )
    return out


def build_urmp(root_dir, instruments=None, *, extractor=None, analysis_hop=None, root="data",
               profile: str = "urmp", force: bool = False) -> dict:
    """Build ``<root>/<profile>/<instrument>`` from URMP stems for each instrument.

    An instrument without stems is reported and skipped; DataError if none has any.
    """
    names = list(instruments or INSTRUMENTS)
    out, errors = {}, []
    for inst in names:
        try:
            stems = find_stems(root_dir, inst)
        except DataError as err:
            if instruments:  # explicitly asked for: an error
                raise
            log(f"skipped: {err}")
            errors.append(str(err))
            continue
        out[inst] = build_recordings(
            stems, base=Path(root_dir), profile=profile, instrument=inst, source="urmp",
            extractor=extractor, analysis_hop=analysis_hop, root=root, force=force)
    if not out:
        raise DataError("; ".join(errors))
    return out
