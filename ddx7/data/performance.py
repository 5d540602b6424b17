"""The performance model: a melody played expressively, as MIDI notes, pitch bends and expression.

:func:`perform` turns a :class:`~ddx7.data.melody.Melody` into a :class:`Performance`:

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
same in every profile (profiles only cut it at different lengths). :func:`to_midi` writes the
performance as MIDI; :func:`ground_truth_f0` gives the f0 of every frame from the notes and bends
written, which the f0 extractors are measured against. A change here changes the rendered audio:
bump :data:`ddx7.data.render.RENDER_VERSION`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from .. import HOP, SAMPLE_RATE
from .errors import DataError
from .instruments import Instrument
from .melody import Melody, fit_range, fold_octaves, squeeze_rests

BEND_RANGE = 2.0  # semitones
CONTROL_STEP = 0.01  # seconds between pitch-bend / CC 11 messages


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
    notes = squeeze_rests(melody.notes, max_rest=1.5)
    k = fit_range([n.pitch for n in notes], instrument.low, instrument.high)
    pitches = [fold_octaves(n.pitch + k, instrument.low, instrument.high) for n in notes]

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
    import pretty_midi  # imported here: only rendering needs it

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

