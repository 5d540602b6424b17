"""ddx7.eval.mss_bands: the multi-scale spectral distance split by frequency band."""

import numpy as np
import pytest
import torch

from ddx7 import SAMPLE_RATE
from ddx7.eval.mss_bands import mss_by_band
from ddx7.losses import MultiScaleSpectralLoss


def _tone(hz, seconds=0.5, amp=0.5):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_the_bands_sum_to_the_loss():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(8000).astype(np.float32) * 0.1
    b = (a + rng.standard_normal(8000).astype(np.float32) * 0.03) * 1.3
    table = mss_by_band(a, b)
    expected = MultiScaleSpectralLoss()(torch.from_numpy(b)[None], torch.from_numpy(a)[None]).item()
    assert table["total"].sum() == pytest.approx(expected, rel=1e-5)
    assert list(table["band"]) == ["0–0.5 kHz", "0.5–1 kHz", "1–2 kHz", "2–4 kHz", "4–8 kHz"]


def test_identical_signals_have_no_distance_in_any_band():
    a = _tone(440.0)
    assert np.all(mss_by_band(a, a.copy())[["linear", "log"]].to_numpy() == 0)


def test_a_difference_at_6_khz_lies_in_the_top_band():
    a = _tone(440.0)
    b = a + _tone(6000.0, amp=0.05)
    table = mss_by_band(a, b).set_index("band")
    assert table.loc["4–8 kHz", "linear"] > 0.95 * table["linear"].sum()
    low = mss_by_band(a, a + _tone(300.0, amp=0.05)).set_index("band")  # and one at 300 Hz in the bottom band
    assert low.loc["0–0.5 kHz", "linear"] > 0.9 * low["linear"].sum()


def test_bad_input_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="trim them to a common length"):
        mss_by_band(np.zeros(4000), np.zeros(4001))
    with pytest.raises(ValueError, match="band edges must start at 0"):
        mss_by_band(np.zeros(4000), np.zeros(4000), edges_hz=(100.0, 2000.0))
    with pytest.raises(ValueError, match="below Nyquist"):
        mss_by_band(np.zeros(4000), np.zeros(4000), edges_hz=(0.0, 9000.0))


def test_top_band_log_by_pitch_finds_the_notes_that_lack_the_top_band():
    from ddx7 import HOP
    from ddx7.eval.mss_bands import top_band_log_by_pitch

    half = SAMPLE_RATE // 2
    hiss = (0.01 * np.random.default_rng(0).standard_normal(2 * half)).astype(np.float32)  # in every bin
    low, high = _tone(300.0) + hiss[:half], _tone(700.0) + hiss[half:]
    reference = np.concatenate([low, high])
    rendered = np.concatenate([_tone(300.0), high])  # the low note without its hiss, the high note intact
    frames = len(reference) // HOP
    f0 = np.where(np.arange(frames) < half // HOP, 300.0, 700.0)
    voiced = np.ones(frames, dtype=bool)
    voiced[:10] = False  # an unvoiced start is left out
    table = top_band_log_by_pitch(reference, rendered, f0, voiced).set_index("f0")
    assert list(table.index) == ["0–400 Hz", "400–600 Hz", "≥ 600 Hz"]
    assert table.loc["0–400 Hz", "frames"] == sum(1 for i in range(len(reference) // 64 + 1)
                                                   if 10 <= i * 64 // HOP < half // HOP)
    assert table.loc["0–400 Hz", "log term"] > 3  # ~log(hiss / the tone's leakage) on every top-band bin
    assert table.loc["≥ 600 Hz", "log term"] < 0.05 * table.loc["0–400 Hz", "log term"]  # only the frames at the cut
    assert table.loc["400–600 Hz", "frames"] == 0 and np.isnan(table.loc["400–600 Hz", "log term"])
    with pytest.raises(ValueError, match="not one of the loss's FFT sizes"):
        top_band_log_by_pitch(reference, rendered, f0, voiced, n_fft=300)


def test_top_band_log_by_pitch_refuses_signals_of_two_lengths():
    from ddx7.eval.mss_bands import top_band_log_by_pitch

    with pytest.raises(ValueError, match="top_band_log_by_pitch needs two 1-D signals of one length"):
        top_band_log_by_pitch(np.zeros(4000), np.zeros(3990), np.full(62, 300.0), np.ones(62, dtype=bool))
