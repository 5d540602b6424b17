"""The rendered corpus: real melodies performed expressively by sampled instruments.

A *piece spec* names one melodic line of the music21 corpus (it ships inside the music21 wheel,
so nothing is downloaded)::

    "haydn/opus74no1/movement1@violin i"     part whose name matches (regex, case-insensitive)
    "oneills1850/0001-0050.abc#2"            tune number 2 of an ABC collection (first part)
    "bach/bwv1.6@soprano"

The line is made monophonic (highest note of chords, overlaps cut), rests longer than 1.5 beats
are shortened (an ensemble part waits a lot), the line is transposed into the instrument's
comfortable range (not at all if it fits, else by octaves, else by semitones), then *performed*:

* tempo chosen from the line's note values (median note 0.22-0.5 s depending on instrument),
  with a slow tempo wave (+-4-8 %), ritardandi into phrase ends and occasional fermata pauses;
* phrases (split at rests and every ~8 beats) with their own dynamic level (random walk) and shape
  (flat, crescendo, diminuendo, arch);
* articulation per phrase: legato (notes end at the next onset), detached (70-92 % of the note,
  gaps <= 130 ms) or mixed; staccato marks honoured; breaths before phrases on wind instruments;
* velocity from level, shape and accents (down-beats, phrase starts, random accents);
* expression (CC 11) every 10 ms: the phrase dynamics plus per-note swells (messa di voce,
  crescendo, diminuendo, accent-and-decay);
* vibrato as pitch bends every 10 ms (bend range +-2 semitones, set by RPN 0): depth and rate
  drawn per note and modulated within it, delayed onset with fade-in; per-note intonation
  (+-3 cents) and trumpet "scoops" at some attacks.

Everything is drawn from ``numpy.random.default_rng([seed, crc32(piece)])``: a piece sounds the
same in every profile (profiles only cut it at different lengths). The MIDI file goes through
``fluidsynth -ni -q`` (reverb and chorus off) with a soundfont (default FluidR3 GM; override
with ``--soundfont`` or ``DDX7_SOUNDFONT``) at 44.1 kHz, float, then downmixed and resampled to
16 kHz with soxr.

Because we wrote every note and every bend, the ground-truth f0 of each 64-sample frame is known
(:func:`ground_truth_f0`): it is what the extractors are measured against.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import HOP, SAMPLE_RATE
from .errors import DataError
from .instruments import Instrument, get_instrument

DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_SR = 44100
BEND_RANGE = 2.0  # semitones
CONTROL_STEP = 0.01  # seconds between pitch-bend / CC 11 messages
RENDER_VERSION = 2  # bump when the performance model changes (invalidates caches)

# --------------------------------------------------------------------------------- catalog

_V1 = "@(violin i|violino i\\.?|1st violin|violin 1)"
_TPT = "@trumpet 1"

CATALOG: dict[str, list[str]] = {
    # Violin I of string quartets / trio sonatas, composers interleaved.
    "violin": [
        "haydn/opus74no1/movement1" + _V1,
        "mozart/k80/movement1" + _V1,
        "beethoven/opus18no1/movement2.mxl" + _V1,
        "corelli/opus3no1/1grave.xml" + _V1,
        "mozart/k156/movement2" + _V1,
        "haydn/opus1no1/movement3" + _V1,
        "schumann_robert/opus41no1/movement1" + _V1,
        "mozart/k155/movement1" + _V1,
        "beethoven/opus59no1/movement3" + _V1,
        "haydn/opus74no1/movement2" + _V1,
        "mozart/k458/movement3" + _V1,
        "beethoven/opus18no1/movement1.mxl" + _V1,
        "mozart/k80/movement2" + _V1,
        "haydn/opus1no1/movement1" + _V1,
        "mozart/k156/movement1" + _V1,
        "beethoven/opus59no2/movement2" + _V1,
        "schumann_robert/opus41no1/movement3" + _V1,
        "mozart/k458/movement2" + _V1,
        "haydn/opus74no1/movement4" + _V1,
        "beethoven/opus59no3/movement2" + _V1,
        "mozart/k155/movement2" + _V1,
        "haydn/opus1no1/movement5" + _V1,
    ],
    # Bach's flute line, Irish and Scottish airs, quartet and chorale melodies transposed up.
    "flute": [
        "bach/bwv248.23-2@flutes",
        "oneills1850/0001-0050.abc#2",
        "mozart/k156/movement2" + _V1,
        "airdsAirs/book1.abc#3",
        "haydn/opus74no1/movement2" + _V1,
        "bach/bwv1.6@soprano",
        "oneills1850/0001-0050.abc#4",
        "mozart/k80/movement1" + _V1,
        "airdsAirs/book1.abc#1",
        "oneills1850/0001-0050.abc#1",
        "haydn/opus1no1/movement3" + _V1,
        "bach/bwv10.7@soprano",
        "airdsAirs/book1.abc#5",
        "oneills1850/0001-0050.abc#3",
        "mozart/k155/movement2" + _V1,
        "airdsAirs/book1.abc#4",
        "bach/bwv104.6@soprano",
        "oneills1850/0001-0050.abc#5",
        "haydn/opus74no1/movement1" + _V1,
        "airdsAirs/book1.abc#6",
        "oneills1850/0001-0050.abc#6",
        "bach/bwv108.6@soprano",
        "oneills1850/0001-0050.abc#7",
        "airdsAirs/book1.abc#7",
        "mozart/k458/movement2" + _V1,
        "oneills1850/0001-0050.abc#8",
        "bach/bwv11.6@soprano",
        "oneills1850/0001-0050.abc#9",
        "airdsAirs/book1.abc#8",
        "haydn/opus1no1/movement1" + _V1,
        "oneills1850/0001-0050.abc#10",
        "airdsAirs/book1.abc#9",
        "bach/bwv110.7@soprano",
        "oneills1850/0001-0050.abc#11",
        "airdsAirs/book1.abc#10",
        "oneills1850/0001-0050.abc#12",
        "bach/bwv111.6@soprano",
        "oneills1850/0001-0050.abc#13",
    ],
    # Bach's trumpet parts, chorale melodies and German folk songs in the trumpet's range.
    "trumpet": [
        "bach/bwv171.6" + _TPT,
        "essenFolksong/altdeu10.abc#2",
        "bach/bwv190.7-inst" + _TPT,
        "bach/bwv1.6@soprano",
        "bach/bwv41.6" + _TPT,
        "essenFolksong/altdeu10.abc#4",
        "bach/bwv248.64-6" + _TPT,
        "bach/bwv10.7@soprano",
        "bach/bwv29.8" + _TPT,
        "essenFolksong/altdeu10.abc#1",
        "bach/bwv137.5" + _TPT,
        "bach/bwv104.6@soprano",
        "essenFolksong/altdeu10.abc#5",
        "bach/bwv108.6@soprano",
        "essenFolksong/altdeu10.abc#6",
        "bach/bwv11.6@soprano",
        "essenFolksong/altdeu10.abc#7",
        "bach/bwv110.7@soprano",
        "essenFolksong/altdeu10.abc#8",
        "bach/bwv111.6@soprano",
        "essenFolksong/altdeu10.abc#9",
        "bach/bwv113.8@soprano",
        "essenFolksong/altdeu10.abc#10",
        "bach/bwv114.7@soprano",
        "essenFolksong/altdeu10.abc#11",
        "bach/bwv115.6@soprano",
        "essenFolksong/altdeu10.abc#12",
        "bach/bwv116.6@soprano",
        "essenFolksong/altdeu10.abc#13",
        "bach/bwv117.4@soprano",
        "essenFolksong/altdeu10.abc#14",
        "bach/bwv119.9@soprano",
        "essenFolksong/altdeu10.abc#15",
        "bach/bwv12.7@soprano",
        "essenFolksong/altdeu10.abc#16",
        "bach/bwv120.6@soprano",
        "essenFolksong/altdeu10.abc#17",
        "bach/bwv121.6@soprano",
        "essenFolksong/altdeu10.abc#18",
        "bach/bwv122.6@soprano",
        "essenFolksong/altdeu10.abc#19",
        "bach/bwv123.6@soprano",
        "essenFolksong/altdeu10.abc#20",
        "bach/bwv124.6@soprano",
        "essenFolksong/altdeu10.abc#21",
        "bach/bwv125.6@soprano",
    ],
}


@dataclass(frozen=True)
class Style:
    """Per-instrument performance tendencies."""

    median_note_s: tuple  # range of the median note duration -> tempo
    vib_prob: float
    vib_depth: tuple  # cents (peak)
    vib_rate: tuple  # Hz
    legato_prob: float
    breath: bool
    scoop_prob: float


STYLES = {
    "violin": Style((0.22, 0.42), 0.85, (12.0, 40.0), (4.8, 7.0), 0.5, False, 0.0),
    "flute": Style((0.24, 0.45), 0.75, (8.0, 28.0), (4.5, 6.5), 0.55, True, 0.0),
    "trumpet": Style((0.28, 0.5), 0.45, (5.0, 20.0), (4.5, 6.0), 0.35, True, 0.25),
}


# ---------------------------------------------------------------------------- the melody


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


def _parse_spec(spec: str):
    m = re.fullmatch(r"([^#@]+)(?:#(\d+))?(?:@(.+))?", spec.strip())
    if not m:
        raise DataError(f"piece spec {spec!r}: expected 'corpus/path[#number][@part regex]'")
    return m.group(1), (int(m.group(2)) if m.group(2) else None), m.group(3)


def load_melody(spec: str) -> Melody:
    """Parse a piece spec from the music21 corpus into a monophonic list of notes."""
    from music21 import corpus

    path, number, part_re = _parse_spec(spec)
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
    from music21 import articulations, expressions

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


def _squeeze_rests(notes, max_rest: float = 2.0) -> list:
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


def _fold(pitch: int, low: int, high: int) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


# ------------------------------------------------------------------------ the performance


@dataclass
class Performance:
    notes: list  # (start_s, end_s, pitch, velocity)
    bends: list  # (time_s, value in [-8192, 8191])
    cc11: list  # (time_s, value 0..127)
    tempo_bpm: float
    transpose: int
    meta: dict = field(default_factory=dict)


def perform(melody: Melody, instrument: Instrument, seed: int, max_seconds: float | None = None
            ) -> Performance:
    """Turn a melody into timed notes, pitch bends and expression, deterministically."""
    style = STYLES.get(instrument.name, STYLES["violin"])
    rng = np.random.default_rng([int(seed), zlib.crc32(melody.piece.encode())])
    notes = _squeeze_rests(melody.notes, max_rest=1.5)
    k = fit_range([n.pitch for n in notes], instrument.low, instrument.high)
    pitches = [_fold(n.pitch + k, instrument.low, instrument.high) for n in notes]

    # tempo from note values
    med_beats = float(np.median([n.dur for n in notes]))
    target = rng.uniform(*style.median_note_s)
    bpm = float(np.clip(60.0 * med_beats / target, 54.0, 132.0))

    # phrases
    phrase_of = np.zeros(len(notes), int)
    p, start = 0, notes[0].onset
    for i in range(1, len(notes)):
        prev_end = notes[i - 1].onset + notes[i - 1].dur
        if notes[i].onset - prev_end >= 0.5 or notes[i].onset - start >= 8.0 * rng.uniform(
                0.75, 1.25):
            p += 1
            start = notes[i].onset
        phrase_of[i] = p
    n_phr = p + 1
    levels = np.empty(n_phr)
    lvl = rng.uniform(0.4, 0.9)
    for j in range(n_phr):
        lvl = float(np.clip(lvl + rng.normal(0, 0.22), 0.15, 1.0))
        levels[j] = lvl
    shapes = rng.choice(["flat", "cresc", "dim", "arch"], size=n_phr, p=[0.25, 0.25, 0.25, 0.25])
    artic = rng.choice(["legato", "detached", "mixed"], size=n_phr,
                       p=[style.legato_prob, (1 - style.legato_prob) * 0.6,
                          (1 - style.legato_prob) * 0.4])
    phr_first = {j: int(np.flatnonzero(phrase_of == j)[0]) for j in range(n_phr)}
    phr_last = {j: int(np.flatnonzero(phrase_of == j)[-1]) for j in range(n_phr)}

    # time map: beats -> seconds, with tempo wave, ritardandi and fermatas
    total_beats = notes[-1].onset + notes[-1].dur + 1.0
    grid = 1.0 / 48.0
    b = np.arange(0.0, total_beats + grid, grid)
    wave_amp, wave_per, wave_ph = rng.uniform(0.04, 0.08), rng.uniform(8, 24), rng.uniform(0, 6.3)
    stretch = 1.0 + wave_amp * np.sin(2 * np.pi * b / wave_per + wave_ph)
    pauses = np.zeros_like(b)
    for j in range(n_phr):
        end_b = notes[phr_last[j]].onset + notes[phr_last[j]].dur
        if rng.random() < 0.6:  # ritardando over the last ~2 beats of the phrase
            r = rng.uniform(0.08, 0.25)
            w = np.clip((b - (end_b - 2.0)) / 2.0, 0, 1) * (b <= end_b)
            stretch += r * w
        if j < n_phr - 1 and rng.random() < 0.15:  # a breath pause
            pauses[min(np.searchsorted(b, end_b), len(b) - 1)] += rng.uniform(0.2, 0.6)
    for n in notes:
        if n.fermata:  # hold: stretch the note 1.5-2x
            sel = (b >= n.onset) & (b < n.onset + n.dur)
            stretch[sel] *= rng.uniform(1.5, 2.0)
    spb = 60.0 / bpm
    t_of = np.concatenate([[0.0], np.cumsum(stretch[:-1] * spb * grid)]) + np.cumsum(pauses)

    def T(beat):
        return float(np.interp(beat, b, t_of)) + 0.25  # 250 ms lead-in

    out_notes, bends, ccs = [], [], []
    rng_v = rng  # one stream keeps the draw order stable
    last_cc = None
    for i, n in enumerate(notes):
        j = phrase_of[i]
        t0 = T(n.onset)
        written_end = T(n.onset + n.dur)
        nxt = T(notes[i + 1].onset) if i + 1 < len(notes) else written_end + 1.0
        a = artic[j]
        if a == "mixed":
            a = "legato" if rng_v.random() < 0.5 else "detached"
        if n.staccato:
            end = t0 + (written_end - t0) * rng_v.uniform(0.4, 0.6)
        elif a == "legato":
            end = min(written_end, nxt) - 0.004
        else:  # detached: 70-92 % of the note, the gap capped at 40-130 ms
            end = t0 + (written_end - t0) * rng_v.uniform(0.7, 0.92)
            end = max(end, written_end - rng_v.uniform(0.04, 0.13))
        if style.breath and i == phr_last[j] and i + 1 < len(notes) and nxt - written_end < 0.05:
            end = min(end, nxt - rng_v.uniform(0.08, 0.16))
        end = max(end, t0 + 0.06)
        end = min(end, nxt - 0.004)
        if end - t0 < 0.04:
            continue
        if max_seconds is not None and end > max_seconds:
            break
        u = (i - phr_first[j]) / max(1, phr_last[j] - phr_first[j])
        shape = {"flat": 1.0, "cresc": 0.75 + 0.35 * u, "dim": 1.1 - 0.35 * u,
                 "arch": 0.8 + 0.3 * math.sin(math.pi * u)}[shapes[j]]
        dyn = float(np.clip(levels[j] * shape, 0.1, 1.0))
        accent = 0.0
        if n.downbeat:
            accent += 8
        if i == phr_first[j]:
            accent += 6
        if n.accent or rng_v.random() < 0.08:
            accent += 18
        vel = int(np.clip(32 + 80 * dyn + accent + rng_v.normal(0, 4), 20, 127))
        out_notes.append((t0, end, pitches[i], vel))

        # expression CC 11 over the note (and the gap before it)
        base = 55 + 70 * dyn
        dur = end - t0
        kind = rng_v.choice(["flat", "swell", "cresc", "dim", "accent"]) if dur > 0.35 else (
            "accent" if accent > 15 else "flat")
        amt = rng_v.uniform(12, 30)
        ts = np.arange(t0, end, CONTROL_STEP)
        x = (ts - t0) / max(dur, 1e-3)
        if kind == "swell":
            cc = base - amt * 0.6 + amt * np.sin(np.pi * x)
        elif kind == "cresc":
            cc = base - amt * 0.5 + amt * x
        elif kind == "dim":
            cc = base + amt * 0.3 - amt * x
        elif kind == "accent":
            cc = base - 8 + 20 * np.exp(-(ts - t0) / 0.08)
        else:
            cc = np.full_like(ts, base)
        cc = np.clip(np.round(cc), 10, 127).astype(int)
        for t, v in zip(ts, cc):
            if v != last_cc:
                ccs.append((float(t), int(v)))
                last_cc = int(v)

        # pitch: intonation + vibrato + scoops, as pitch bends
        inton = rng_v.normal(0, 3.0)
        cents = np.full_like(ts, inton)
        if dur > 0.22 and rng_v.random() < style.vib_prob:
            depth = rng_v.uniform(*style.vib_depth)
            rate = rng_v.uniform(*style.vib_rate)
            delay = min(rng_v.uniform(0.06, 0.3), 0.4 * dur)
            fade = rng_v.uniform(0.12, 0.3)
            dmod_p, dmod_a = rng_v.uniform(0.7, 2.0), rng_v.uniform(0.1, 0.4)
            rmod_p, rmod_a = rng_v.uniform(0.8, 2.5), rng_v.uniform(0.02, 0.08)
            tt = ts - t0
            inst_rate = rate * (1 + rmod_a * np.sin(2 * np.pi * tt / rmod_p))
            phase = 2 * np.pi * np.cumsum(inst_rate) * CONTROL_STEP + rng_v.uniform(0, 6.3)
            env = np.clip((tt - delay) / fade, 0, 1)
            d = depth * (1 + dmod_a * np.sin(2 * np.pi * tt / dmod_p))
            cents = cents + env * d * np.sin(phase)
        if style.scoop_prob and rng_v.random() < style.scoop_prob:
            sc = rng_v.uniform(20, 60)
            cents = cents - sc * np.exp(-(ts - t0) / 0.03)
        vals = np.clip(np.round(cents / 100.0 / BEND_RANGE * 8192), -8192, 8191).astype(int)
        last_b = None
        for t, v in zip(ts, vals):
            if v != last_b:
                bends.append((float(t), int(v)))
                last_b = int(v)
    if not out_notes:
        raise DataError(f"piece {melody.spec!r}: no notes left to perform")
    meta = {"tempo_bpm": round(bpm, 2), "transpose": k, "phrases": n_phr,
            "notes": len(out_notes), "seconds": round(out_notes[-1][1], 3)}
    return Performance(out_notes, bends, ccs, bpm, k, meta)


def to_midi(perf: Performance, program: int):
    """A pretty_midi object: one instrument, bend range by RPN 0, bends and CC 11."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=program)
    cc = pretty_midi.ControlChange
    # RPN 0 (pitch-bend sensitivity) = BEND_RANGE semitones, then RPN null
    for num, val in ((101, 0), (100, 0), (6, int(BEND_RANGE)), (38, 0), (101, 127), (100, 127)):
        inst.control_changes.append(cc(num, val, 0.0))
    inst.control_changes.append(cc(7, 100, 0.0))
    for t, v in perf.cc11:
        inst.control_changes.append(cc(11, v, t))
    for t, v in perf.bends:
        inst.pitch_bends.append(pretty_midi.PitchBend(v, t))
    for s, e, p, v in perf.notes:
        inst.notes.append(pretty_midi.Note(velocity=v, pitch=p, start=s, end=e))
    pm.instruments.append(inst)
    return pm


def ground_truth_f0(perf: Performance, n_samples: int, sr: int = SAMPLE_RATE, hop: int = HOP,
                    guard_on: float = 0.06, guard_off: float = 0.02):
    """f0 (Hz, 0 where no note sounds) per centred frame from the notes and bends we wrote,
    and a mask of the frames to score: voiced, >= ``guard_on`` after a note starts (the sampled
    attack and the previous note's release blur the first tens of ms) and >= ``guard_off``
    before it ends."""
    frames = n_samples // hop
    t = np.arange(frames) * hop / sr
    f0 = np.zeros(frames, np.float32)
    mask = np.zeros(frames, bool)
    bt = np.array([b[0] for b in perf.bends] or [0.0])
    bv = np.array([b[1] for b in perf.bends] or [0])
    # MIDI ticks (960 per beat at 120 bpm) quantise event times to ~0.5 ms: ignore
    idx = np.searchsorted(bt, t + 1e-6, side="right") - 1
    bend_semi = np.where(idx >= 0, bv[np.clip(idx, 0, None)], 0) / 8192.0 * BEND_RANGE
    for s, e, p, _v in perf.notes:
        sel = (t >= s) & (t < e)
        f0[sel] = 440.0 * 2 ** ((p + bend_semi[sel] - 69) / 12.0)
        mask |= (t >= s + guard_on) & (t < e - guard_off)
    return f0, mask & (f0 > 0)


# --------------------------------------------------------------------------- rendering


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

    from .audio import resample

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
    audio: np.ndarray  # 16 kHz mono, NOT normalised
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
