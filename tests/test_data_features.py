"""Features: loudness levels and framing, f0 extractors on known tones."""

import numpy as np
import pytest

from ddx7 import HOP, SAMPLE_RATE
from ddx7.data.features import cents, extract_f0, loudness_db, pitch_metrics

SR = SAMPLE_RATE


def tone(f0, seconds=1.0, amp=0.5, harmonics=6, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    x = sum(amp / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, harmonics + 1))
    return x.astype(np.float32)


def test_loudness_frames_and_shape():
    x = tone(440, 4.0)
    ld = loudness_db(x)
    assert ld.shape == (4 * SR // HOP,) == (1000,)
    assert ld.dtype == np.float32
    batch = loudness_db(np.stack([x, 0.5 * x]))
    assert batch.shape == (2, 1000)
    np.testing.assert_allclose(batch[0], ld, atol=1e-4)


def test_loudness_silence_is_floor_and_noise_near_zero():
    assert np.allclose(loudness_db(np.zeros(SR, np.float32)), -80.0)
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, 2 * SR).astype(np.float32) * np.sqrt(3)  # unit-variance noise
    ld = loudness_db(noise)[20:-20]
    # A-weighted, ref 20.7 dB: unit white noise reads close to 0 dB (the reference of DDSP)
    assert -12 < ld.mean() < 6, ld.mean()


def test_loudness_tracks_level_changes():
    x = tone(1000, 2.0, amp=0.5, harmonics=1)
    quiet = loudness_db(x * 10 ** (-12 / 20))[10:-10].mean()
    loud = loudness_db(x)[10:-10].mean()
    # a pure sine fills few bins above the -80 dB floor, so the bin-averaged loudness moves
    # by less than the level change, but it must move the right way and by a visible amount
    assert 0.05 < loud - quiet <= 12.0
    # broadband sound (all bins above the floor) moves by the level change itself
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(2 * SR).astype(np.float32) * 0.3
    d = loudness_db(noise)[10:-10].mean() - loudness_db(noise * 10 ** (-6 / 20))[10:-10].mean()
    assert abs(d - 6.0) < 0.6, d


def test_loudness_accepts_torch():
    torch = pytest.importorskip("torch")
    x = tone(440, 0.5)
    np.testing.assert_allclose(loudness_db(torch.from_numpy(x)), loudness_db(x), atol=1e-5)


@pytest.mark.parametrize("f0", [196.0, 523.25, 1318.5])
def test_pyin_on_tones(f0):
    x = tone(f0, 0.6)
    f, p = extract_f0(x, method="pyin", analysis_hop=256)
    assert f.shape == p.shape == (len(x) // HOP,)
    mid = slice(20, -20)
    assert np.median(np.abs(cents(f[mid], f0))) < 20
    assert p[mid].mean() > 0.5


def test_tiny_crepe_on_a_tone():
    x = tone(330.0, 0.5)
    f, p = extract_f0(x, method="tiny")
    assert f.shape == (len(x) // HOP,)
    assert np.median(np.abs(cents(f[20:-20], 330.0))) < 25
    assert 0 <= p.min() and p.max() <= 1


def test_extract_f0_batch_and_bad_method():
    x = np.stack([tone(220, 0.4), tone(440, 0.4)])
    f, p = extract_f0(x, method="pyin", analysis_hop=256)
    assert f.shape == (2, 100)
    assert np.median(f[0]) < np.median(f[1])
    with pytest.raises(ValueError):
        extract_f0(x, method="yin")
    with pytest.raises(ValueError):
        extract_f0(x, method="pyin", analysis_hop=100)


def test_pitch_metrics():
    ref = np.array([0, 440, 440, 440, 880], np.float32)
    est = np.array([100, 440 * 2 ** (10 / 1200), 440 * 2 ** (60 / 1200), 880, 880], np.float32)
    m = pitch_metrics(est, ref)
    assert m["frames"] == 4
    assert m["rpa"] == pytest.approx(0.5)
    assert m["rca"] == pytest.approx(0.75)  # the octave error counts for chroma


def test_weighted_viterbi_is_deterministic_and_reads_bin_centres():
    """CREPE's decoding must not add noise: torchcrepe's bins_to_cents dithers each bin by up to
    ±20 cents from numpy's global RNG, which made one recording give a different f0 each time."""
    torch = pytest.importorskip("torch")
    from ddx7.data.features import weighted_viterbi

    bins = torch.tensor([100, 100, 101, 103, 103, 103])  # steps the Viterbi path allows
    probs = torch.full((1, 360, len(bins)), 1e-4)
    probs[0, bins, torch.arange(len(bins))] = 1.0
    np.random.seed(0)
    _, f0_a = weighted_viterbi(probs)
    _, f0_b = weighted_viterbi(probs)
    torch.testing.assert_close(f0_a, f0_b, rtol=0, atol=0)
    # a peak at one bin with a flat floor around it reads (almost exactly) that bin's centre:
    # CREPE's bins are 20 cents apart, bin 0 at 1997.38 cents above 10 Hz (32.70 Hz, C1)
    expected = 10 * 2 ** ((20 * bins.double() + 1997.3794084376191) / 1200)
    assert np.max(np.abs(cents(f0_a[0].numpy(), expected.numpy()))) < 0.5
