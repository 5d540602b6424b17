"""Melodies from the music21 corpus, made playable by one instrument.

A *piece spec* names one melodic line of the music21 corpus (it ships inside the music21 wheel,
so nothing is downloaded)::

    "haydn/opus74no1/movement1@violin i"     part whose name matches (regex, case-insensitive)
    "oneills1850/0001-0050.abc#2"            tune number 2 of an ABC collection (first part)
    "bach/bwv1.6@soprano"

:func:`load_melody` makes the line monophonic (highest note of chords, overlaps cut);
:func:`squeeze_rests` shortens long rests (an ensemble part waits a lot); :func:`fit_range` and
:func:`fold_octaves` transpose it into the instrument's comfortable range. A change here changes
the rendered audio: bump :data:`ddx7.data.render.RENDER_VERSION`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

import numpy as np

from .errors import DataError


@dataclass
class ScoreNote:
    onset: float  # beats (quarter notes)
    dur: float  # beats
    pitch: int  # MIDI
    staccato: bool = False
    accent: bool = False
    downbeat: bool = False
    fermata: bool = False


@dataclass
class Melody:
    spec: str
    piece: str
    source: str
    notes: list
    transpose: int = 0


def piece_id(spec: str) -> str:
    """Stable, readable id of a piece spec, used as the piece name and in file names."""
    base = spec.split("@")[0]
    base = re.sub(r"\.(mxl|xml|krn|abc|musx)", "", base)
    s = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    return f"{s}-{hashlib.sha1(spec.encode()).hexdigest()[:6]}"


def parse_spec(spec: str) -> tuple[str, int | None, str | None]:
    """A piece spec -> (corpus path, tune number or None, part regex or None)."""
    m = re.fullmatch(r"([^#@]+)(?:#(\d+))?(?:@(.+))?", spec.strip())
    if not m:
        raise DataError(f"piece spec {spec!r}: expected 'corpus/path[#number][@part regex]'")
    return m.group(1), (int(m.group(2)) if m.group(2) else None), m.group(3)


def load_melody(spec: str) -> Melody:
    """Parse a piece spec from the music21 corpus into a monophonic list of notes."""
    from music21 import corpus  # imported here: ~1 s, only when a piece is rendered

    path, number, part_re = parse_spec(spec)
    try:
        score = corpus.parse(path, number=number) if number else corpus.parse(path)
    except Exception as err:  # noqa: BLE001
        raise DataError(f"piece {spec!r}: music21 cannot load {path!r}: {err}") from None
    if score is None:
        raise DataError(f"piece {spec!r}: nothing found in the music21 corpus")
    if hasattr(score, "scores") and not hasattr(score, "parts"):  # an Opus
        score = score.scores[0]
    parts = list(getattr(score, "parts", [])) or [score]
    if part_re:
        rx = re.compile(part_re, re.I)
        chosen = [p for p in parts if rx.fullmatch((p.partName or "").strip())]
        if not chosen:
            names = [p.partName for p in parts]
            raise DataError(f"piece {spec!r}: no part matches {part_re!r} (parts: {names})")
        part = chosen[0]
    else:
        part = parts[0]
    notes = _monophonic(part)
    if len(notes) < 8:
        raise DataError(f"piece {spec!r}: only {len(notes)} notes in the chosen part")
    title = (part.partName or "").strip() if part_re else ""
    if number and getattr(score, "metadata", None) is not None and score.metadata.title:
        title = str(score.metadata.title).strip().rstrip(".")
    source = f"music21:{path}" + (f"#{number}" if number else "") + (f" ({title})" if title else "")
    return Melody(spec, piece_id(spec), source, notes)


def _monophonic(part) -> list:
    from music21 import articulations, expressions  # see load_melody

    part = part.stripTies(inPlace=False)
    measures = list(part.getElementsByClass("Measure"))
    containers = [(float(m.offset), m) for m in measures] or [(0.0, part)]
    events = []
    for m_off, m in containers:
        for el in m.recurse().notes:
            ql = float(el.duration.quarterLength)
            if ql <= 0:  # grace notes
                continue
            if el.isChord:
                pitches = [p.midi for p in el.pitches]
                if not pitches:
                    continue
                pitch = max(pitches)
            elif el.isNote:
                pitch = el.pitch.midi
            else:
                continue
            try:
                local = float(el.getOffsetInHierarchy(m))
            except Exception:  # noqa: BLE001
                local = float(el.offset)
            arts = getattr(el, "articulations", [])
            stacc = any(isinstance(a, (articulations.Staccato, articulations.Staccatissimo,
                                       articulations.Spiccato)) for a in arts)
            acc = any(isinstance(a, (articulations.Accent, articulations.StrongAccent))
                      for a in arts)
            ferm = any(isinstance(e, expressions.Fermata) for e in getattr(el, "expressions", []))
            events.append(ScoreNote(m_off + local, ql, int(pitch), stacc, acc,
                                    bool(measures) and abs(local) < 1e-6, ferm))
    events.sort(key=lambda n: (n.onset, -n.pitch))
    out: list[ScoreNote] = []
    for n in events:
        if out and abs(out[-1].onset - n.onset) < 1e-6:
            continue  # same onset: keep the highest (sorted first)
        if out and out[-1].onset + out[-1].dur > n.onset:
            out[-1].dur = n.onset - out[-1].onset  # overlap (voices): cut the earlier note
        out.append(n)
    return [n for n in out if n.dur > 1e-6]


def squeeze_rests(notes, max_rest: float = 2.0) -> list:
    """Start at beat 0 and shorten rests longer than ``max_rest`` beats (a part that waits
    for the rest of the ensemble would otherwise render long silences)."""
    out, shift, prev_end = [], None, None
    for n in notes:
        if shift is None:
            shift = n.onset
        on = n.onset - shift
        if prev_end is not None and on - prev_end > max_rest:
            shift += on - prev_end - max_rest
            on = prev_end + max_rest
        out.append(replace(n, onset=on))
        prev_end = on + n.dur
    return out


def fit_range(pitches, low: int, high: int) -> int:
    """Transposition (semitones) putting a line into [low, high]: none if it fits, else the
    smallest octave shift that fits, else the semitone shift leaving fewest notes outside
    (those are then folded in by octaves)."""
    pitches = np.asarray(pitches)

    def outside(k):
        return float((np.maximum(low - (pitches + k), 0) + np.maximum(pitches + k - high, 0)).sum())

    for k in sorted((12 * i for i in range(-4, 5)), key=abs):
        if outside(k) == 0:
            return k
    return min(range(-48, 49), key=lambda k: (outside(k), abs(k)))


def fold_octaves(pitch: int, low: int, high: int) -> int:
    """``pitch`` moved by octaves into [low, high]."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch

