"""ddx7.eval.haze: energy between the harmonics, against signals whose answer is known."""

import math

import numpy as np
import pytest

from ddx7 import HOP, SAMPLE_RATE
from ddx7.eval.haze import between_harmonics_db

SECONDS = 2.0
N = int(SECONDS * SAMPLE_RATE)
T = N // HOP
t = np.arange(N) / SAMPLE_RATE


def harmonic_tone(f0=220.0, n=30):
    return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, n + 1) if k * f0 < SAMPLE_RATE / 2)


def test_a_harmonic_tone_has_almost_nothing_between_its_harmonics():
    f0 = np.full(T, 220.0)
    assert between_harmonics_db(harmonic_tone(), f0, np.ones(T, bool)) < -40


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_a_partial_between_the_harmonics_gives_its_share_of_the_power(share):
    """Partials at 2.2 kHz and above (harmonics 10–30) plus one at 10.5 · f0, holding ``share`` of that band."""
    f0 = 220.0
    tone = harmonic_tone(f0)
    band = sum(0.5 / k ** 2 for k in range(10, 31))  # mean power of the harmonics ≥ 2 kHz (2.2 kHz on)
    amp = math.sqrt(2 * band * share / (1 - share))
    mixed = tone + amp * np.sin(2 * np.pi * 10.5 * f0 * t)
    got = between_harmonics_db(mixed, np.full(T, f0), np.ones(T, bool))
    assert got == pytest.approx(10 * math.log10(share), abs=0.3)


def test_unvoiced_frames_are_left_out_and_none_voiced_is_nan():
    f0, noise = np.full(T, 220.0), 0.1 * np.random.default_rng(0).normal(size=N)
    x = np.concatenate([harmonic_tone()[: N // 2], noise[N // 2:]])
    voiced = np.zeros(T, bool)
    voiced[: T // 4] = True  # no analysis window centred there reaches the noise
    assert between_harmonics_db(x, f0, voiced) < -40 < -25 < between_harmonics_db(x, f0, np.ones(T, bool))
    assert math.isnan(between_harmonics_db(x, f0, np.zeros(T, bool)))
    with pytest.raises(ValueError, match="shorter than"):
        between_harmonics_db(x[:100], f0[:1], voiced[:1])
