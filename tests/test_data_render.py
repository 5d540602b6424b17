"""Rendered corpus: catalog, melodies, performance, MIDI rendering and its ground-truth f0."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ddx7 import HOP, SAMPLE_RATE
from ddx7.data import DataError
from ddx7.data import melody as M
from ddx7.data import performance as P
from ddx7.data import render as R
from ddx7.data.features import cents, extract_f0
from ddx7.data.instruments import INSTRUMENTS, get_instrument

HAVE_FS = shutil.which("fluidsynth") is not None and Path(R.DEFAULT_SOUNDFONT).is_file()
needs_fs = pytest.mark.skipif(not HAVE_FS, reason="fluidsynth or FluidR3_GM.sf2 not installed")


def melody(pitches, dur=1.0):
    notes = [M.ScoreNote(i * dur, dur, p) for i, p in enumerate(pitches)]
    return M.Melody("test", "test-piece", "test", notes)


def test_fit_range_prefers_no_shift_then_octaves():
    assert M.fit_range([60, 67, 72], 55, 93) == 0
    assert M.fit_range([40, 47, 52], 55, 93) == 24
    assert M.fit_range([90, 98], 54, 86) == -12
    k = M.fit_range([50, 95], 60, 93)  # too wide for any octave: semitone shift
    assert k % 12 != 0 or k == 0


def test_performance_is_deterministic_and_expressive():
    m = melody([67, 69, 71, 72, 74, 72, 71, 69] * 3, dur=1.0)
    inst = get_instrument("violin")
    a, b = P.perform(m, inst, seed=7), P.perform(m, inst, seed=7)
    c = P.perform(m, inst, seed=8)
    assert a.notes == b.notes and a.bends == b.bends and a.cc11 == b.cc11
    assert a.notes != c.notes
    starts = np.array([n[0] for n in a.notes])
    assert np.all(np.diff(starts) > 0)
    assert all(n[1] <= m2[0] for n, m2 in zip(a.notes, a.notes[1:]))  # monophonic
    vel = np.array([n[3] for n in a.notes])
    assert vel.max() - vel.min() >= 10  # dynamics
    bends = np.array([v for _, v in a.bends])
    cents_per_unit = P.BEND_RANGE * 100 / 8192
    assert (bends.max() - bends.min()) * cents_per_unit > 20  # vibrato swings > 20 cents
    ccs = np.array([v for _, v in a.cc11])
    assert ccs.max() - ccs.min() >= 15  # expression swells
    iois = np.diff(starts)
    assert iois.std() > 0.005  # tempo is not a metronome


def test_max_seconds_cuts_the_performance():
    m = melody(list(range(60, 84)) * 2, dur=1.0)
    p = P.perform(m, get_instrument("flute"), seed=1, max_seconds=5.0)
    assert p.notes[-1][1] <= 5.0 < P.perform(m, get_instrument("flute"), seed=1).notes[-1][1]


def test_ground_truth_f0_follows_notes_and_bends():
    perf = P.Performance(notes=[(0.1, 0.5, 69, 100)], bends=[(0.1, 0), (0.3, 4096)],
                         cc11=[], tempo_bpm=120, transpose=0)
    f0, mask = P.ground_truth_f0(perf, SAMPLE_RATE)
    t = np.arange(len(f0)) * HOP / SAMPLE_RATE
    assert f0[t < 0.1].max() == 0 and f0[t >= 0.5].max() == 0
    assert np.allclose(f0[(t >= 0.1) & (t < 0.3)], 440.0)
    assert np.allclose(f0[(t >= 0.3) & (t < 0.5)], 440.0 * 2 ** (1 / 12))  # +1 semitone
    assert not mask[(t >= 0.1) & (t < 0.15)].any() and mask[(t > 0.2) & (t < 0.45)].all()


def test_catalog_lists_valid_specs_for_every_instrument():
    catalog = R.load_catalog()
    assert set(catalog) == set(INSTRUMENTS)
    for specs in catalog.values():
        assert len(specs) >= 12 and len(set(specs)) == len(specs)  # the full profile takes 12
        for spec in specs:
            path, _number, part = M.parse_spec(spec)  # no DataError
            assert "{" not in spec and (part is None or re.compile(part))
    assert "haydn/opus74no1/movement1@(violin i|violino i\\.?|1st violin|violin 1)" in catalog["violin"]


def test_load_melody_from_corpus():
    m = M.load_melody("bach/bwv1.6@soprano")
    assert len(m.notes) > 30 and m.piece.startswith("bach-bwv1-6-")
    onsets = [n.onset for n in m.notes]
    assert onsets == sorted(onsets)
    with pytest.raises(DataError, match="no part matches"):
        M.load_melody("bach/bwv1.6@kazoo")
    with pytest.raises(DataError, match="nonexistent"):
        M.load_melody("nonexistent/piece")


@needs_fs
def test_rendered_note_matches_ground_truth_with_pyin(tmp_path):
    m = melody([62, 69, 66, 74, 67, 71], dur=1.0)
    perf = P.perform(m, get_instrument("flute"), seed=3)
    mid = tmp_path / "t.mid"
    P.to_midi(perf, get_instrument("flute").gm_program).write(str(mid))
    audio = R.render_midi_file(mid, R.DEFAULT_SOUNDFONT)
    assert audio.ndim == 1 and np.abs(audio).max() > 0.01
    audio = audio[: len(audio) // HOP * HOP]
    f0_true, mask = P.ground_truth_f0(perf, len(audio))
    f0, _ = extract_f0(audio, method="pyin", analysis_hop=256)
    err = np.abs(cents(f0[mask], f0_true[mask]))
    assert mask.sum() > 200
    assert np.mean(err < 50) > 0.95, np.percentile(err, [50, 90, 99])


def test_missing_soundfont_and_fluidsynth(monkeypatch, tmp_path):
    with pytest.raises(DataError, match="soundfont not found"):
        R.find_soundfont(str(tmp_path / "nope.sf2"))
    monkeypatch.setenv("DDX7_SOUNDFONT", str(tmp_path / "missing.sf2"))
    with pytest.raises(DataError, match="missing.sf2"):
        R.find_soundfont()
    monkeypatch.setenv("DDX7_FLUIDSYNTH", "fluidsynth-that-does-not-exist")
    with pytest.raises(DataError, match="fluidsynth not found"):
        R.find_fluidsynth()


def test_unknown_instrument():
    with pytest.raises(DataError, match="unknown instrument 'kazoo'"):
        get_instrument("kazoo")
