"""The rendered corpus: real melodies performed expressively by sampled instruments.

Each instrument plays the melodic lines of its list in ``catalog.yaml`` (:func:`load_catalog`), in
order. A line of the music21 corpus is loaded and fitted to the instrument
(:mod:`ddx7.data.melody`), performed with expressive timing, dynamics and vibrato as MIDI
(:mod:`ddx7.data.performance`), then rendered here: the MIDI file goes through
``fluidsynth -ni -q`` (reverb and chorus off) with a soundfont (default FluidR3 GM; override
with ``--soundfont`` or ``DDX7_SOUNDFONT``) at 44.1 kHz, float, then downmixed and resampled to
``SAMPLE_RATE`` with soxr. A rendered piece is cached by :func:`render_key` (:func:`cached_render`).

Because we wrote every note and every bend, the ground-truth f0 of each frame is known
(:func:`ddx7.data.performance.ground_truth_f0`): it is what the extractors are measured against.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .. import SAMPLE_RATE
from .audio import resample
from .errors import DataError
from .instruments import get_instrument
from .melody import load_melody, piece_id
from .npz import atomic_savez
from .performance import ground_truth_f0, perform, to_midi

DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_SR = 44100
# bump when the melodies, the performance model or the rendering change (invalidates caches)
RENDER_VERSION = 2
CATALOG_FILE = Path(__file__).with_name("catalog.yaml")
_PART_NAME = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def load_catalog() -> dict[str, list[str]]:
    """{instrument: [piece spec]} of the rendered corpus, from :data:`CATALOG_FILE`, with each
    ``{name}`` replaced by the part pattern ``parts: name``."""
    data = yaml.safe_load(CATALOG_FILE.read_text())
    parts = data.get("parts") or {}
    return {instrument: [_PART_NAME.sub(lambda m: parts[m.group(1)], spec) for spec in specs]
            for instrument, specs in data["pieces"].items()}


def find_soundfont(path: str | None = None) -> str:
    sf = path or os.environ.get("DDX7_SOUNDFONT") or DEFAULT_SOUNDFONT
    if not Path(sf).is_file():
        raise DataError(
            f"soundfont not found: {sf} (install Debian's fluid-soundfont-gm, e.g. `make deps`, "
            "or pass --soundfont PATH / set DDX7_SOUNDFONT)"
        )
    return str(sf)


def find_fluidsynth() -> str:
    exe = shutil.which(os.environ.get("DDX7_FLUIDSYNTH", "fluidsynth"))
    if not exe:
        raise DataError("fluidsynth not found on PATH (apt-get install fluidsynth, or `make deps`)")
    return exe


def render_midi_file(midi_path, soundfont: str, sr: int = SAMPLE_RATE) -> np.ndarray:
    """fluidsynth -> mono float32 at ``sr`` (not normalised)."""
    import soundfile as sf

    exe = find_fluidsynth()
    with tempfile.TemporaryDirectory(prefix="ddx7-fs-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.8", "-r", str(RENDER_SR),
               "-o", "audio.file.format=float", "-F", str(wav), soundfont, str(midi_path)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if res.returncode != 0 or not wav.is_file() or wav.stat().st_size < 100:
            raise DataError(f"fluidsynth failed on {midi_path} with {soundfont}: "
                            f"{(res.stderr or res.stdout).strip()[:400]}")
        x, file_sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), file_sr, sr)


@dataclass
class RenderedPiece:
    spec: str
    piece: str
    source: str
    audio: np.ndarray  # mono at SAMPLE_RATE, NOT normalised
    f0_true: np.ndarray  # [frames]
    f0_mask: np.ndarray  # [frames] bool
    meta: dict


def render_piece(spec: str, instrument: str, seed: int = 1234, soundfont: str | None = None,
                 max_seconds: float | None = None, midi_out: str | None = None) -> RenderedPiece:
    """Load, perform and render one piece; returns audio and its ground-truth f0."""
    inst = get_instrument(instrument)
    sf_path = find_soundfont(soundfont)
    find_fluidsynth()
    mel = load_melody(spec)
    perf = perform(mel, inst, seed, max_seconds)
    pm = to_midi(perf, inst.gm_program)
    with tempfile.TemporaryDirectory(prefix="ddx7-mid-") as tmp:
        mid = Path(midi_out) if midi_out else Path(tmp) / "piece.mid"
        pm.write(str(mid))
        audio = render_midi_file(mid, sf_path)
    # cut the release tail 1 s after the last note
    end = int((perf.notes[-1][1] + 1.0) * SAMPLE_RATE)
    audio = audio[:end]
    f0, mask = ground_truth_f0(perf, len(audio))
    meta = dict(perf.meta, spec=spec, soundfont=Path(sf_path).name, seed=seed,
                render_version=RENDER_VERSION)
    return RenderedPiece(spec, mel.piece, mel.source, audio, f0, mask, meta)


def render_key(spec: str, instrument: str, seed: int, soundfont: str, max_seconds) -> str:
    st = Path(soundfont).stat()
    s = f"{RENDER_VERSION}|{spec}|{instrument}|{seed}|{Path(soundfont).resolve()}|{st.st_size}|" \
        f"{max_seconds}"
    return hashlib.sha256(s.encode()).hexdigest()[:20]


def cached_render(spec: str, instrument: str, seed: int, soundfont: str, max_seconds: float,
                  cache_dir: Path) -> RenderedPiece:
    """:func:`render_piece`, cached in ``<cache_dir>/render/<instrument>/<piece id>-<render_key>.npz``."""
    key = render_key(spec, instrument, seed, soundfont, max_seconds)
    path = Path(cache_dir) / "render" / instrument / f"{piece_id(spec)}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return RenderedPiece(spec, meta["piece"], meta["source"], z["audio"],
                                     z["f0_true"], z["f0_mask"], meta)
        except Exception:  # noqa: BLE001 - damaged cache entry: render again
            pass
    rp = render_piece(spec, instrument, seed=seed, soundfont=soundfont, max_seconds=max_seconds)
    meta = dict(rp.meta, piece=rp.piece, source=rp.source)
    atomic_savez(path, audio=rp.audio, f0_true=rp.f0_true, f0_mask=rp.f0_mask,
                 meta=np.array(json.dumps(meta)))
    rp.meta = meta
    return rp
