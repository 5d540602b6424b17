"""The unseen-phrase evaluation (ddx7.eval.unseen): which pieces it draws from, and its comparison."""

import numpy as np
import pytest

from ddx7.data.melody import piece_id
from ddx7.data.render import load_catalog
from ddx7.eval.unseen import compare, held_out_specs, unseen_phrases


def tone(f0, seconds=2.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)).astype(np.float32)


def test_phrases_come_from_the_test_pieces_only():
    specs = load_catalog()["flute"]
    manifest = {"pieces": [{"piece": piece_id(specs[1]), "split": "test"},
                           {"piece": piece_id(specs[0]), "split": "train"},
                           {"piece": piece_id(specs[3]), "split": "test"}]}
    assert held_out_specs("flute", manifest) == [specs[1], specs[3]]


def test_compare_is_zero_for_the_input_itself_and_sees_an_octave():
    x = tone(220.0)
    same = compare(x, x.copy())
    assert same["mss"] == pytest.approx(0.0, abs=1e-6) and same["f0_median_abs_cents"] == 0.0
    assert same["loudness_mean_abs_db"] == 0.0
    octave = compare(x, tone(440.0))
    assert abs(octave["f0_median_abs_cents"] - 1200) < 20 and octave["mss"] > 1.0
    from ddx7.resynth import features

    assert compare(x, tone(440.0), reference=features(x)) == octave  # the original's features, computed once


def test_unseen_phrase_is_another_soundfont_and_normalised(tmp_path):
    import shutil

    from ddx7.eval.unseen import OTHER_SOUNDFONT

    if not shutil.which("fluidsynth") or not __import__("os").path.exists(OTHER_SOUNDFONT):
        pytest.skip("fluidsynth or the TimGM6mb soundfont is not installed (make venv installs them)")
    spec = load_catalog()["flute"][0]
    [(name, audio)] = unseen_phrases("flute", {"pieces": [{"piece": piece_id(spec), "split": "test"}]}, seconds=2.0)
    assert name == f"flute-{piece_id(spec)}" and len(audio) == 32000
    assert np.abs(audio).max() == pytest.approx(1.0)
