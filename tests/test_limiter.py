"""The output peak limiter (ddx7.limiter) and resynth's use of it: gain only around the overs."""

import numpy as np
import pytest
import soundfile as sf

from ddx7.audio_io import Spool, write_spool
from ddx7.limiter import CEILING, WINDOW, limit, limited_blocks, limiter_gain
from ddx7.resynth import finish_output, limited_note


def burst(n=48000, over=2.5, at=20000, length=300):
    """A 0.5-amplitude 220 Hz tone with a burst of ``over`` × full scale: a rendering like the Table 1 trumpet's."""
    t = np.arange(n) / 16000
    audio = 0.5 * np.sin(2 * np.pi * 220 * t)
    audio[at:at + length] *= over / 0.5
    return audio.astype(np.float32)


def test_audio_within_the_ceiling_passes_unchanged():
    audio = burst(over=0.5)
    assert np.array_equal(limit(audio), audio)
    with Spool() as spool:
        spool.append(audio)
        assert np.array_equal(np.concatenate(list(limited_blocks(spool, size=4096))), audio)


def test_limited_audio_stays_within_the_ceiling_and_is_untouched_away_from_the_overs():
    audio = burst()
    out = limit(audio)
    assert np.abs(out).max() <= CEILING
    overs = np.flatnonzero(np.abs(audio) > CEILING)
    far = np.ones(len(audio), bool)
    far[max(0, overs[0] - 2 * WINDOW): overs[-1] + 2 * WINDOW + 1] = False
    assert np.array_equal(out[far], audio[far])  # the notes before and after keep their level
    gain = limiter_gain(audio)
    # each gain is a mean over 2W + 1 values in [0, 1]: neighbours differ by at most 1 / (2W + 1), no click
    assert np.abs(np.diff(gain)).max() <= 1 / (2 * WINDOW + 1) + 1e-6
    assert gain.min() == pytest.approx(CEILING / 2.5, rel=0.02)


@pytest.mark.parametrize("at", [4096 - 150, 0, 48000 - 100], ids=["block boundary", "start", "end"])
def test_limited_blocks_equal_the_whole_array_and_stay_within_the_ceiling_at_the_ends(at):
    audio = burst(at=at)  # across the first boundary of 4096-sample blocks, or at either end of the audio
    with Spool() as spool:
        spool.append(audio)
        blocks = list(limited_blocks(spool, size=4096))
    assert [len(b) for b in blocks[:-1]] == [4096] * (len(blocks) - 1)
    assert np.abs(limit(audio)).max() <= CEILING
    np.testing.assert_allclose(np.concatenate(blocks), limit(audio), rtol=0, atol=1e-7)


def test_finish_output_limits_a_burst_instead_of_turning_the_whole_rendering_down(tmp_path):
    audio = burst()
    with Spool() as spool:
        spool.append(audio)
        info = finish_output(spool, None)
        assert info["limited"] and info["peak"] == pytest.approx(2.5, rel=1e-3)
        # before: the whole rendering × 0.99 / 2.5, every other note 8 dB quieter than the model rendered it
        np.testing.assert_array_equal(info["audio"][:10000], audio[:10000])
        assert "peaked at +8.0 dBFS, limited" in limited_note(info)
        path = tmp_path / "out.wav"
        finish_output(spool, path)
    written, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and np.abs(written).max() <= 1.0
    np.testing.assert_allclose(written, limit(audio), rtol=0, atol=1 / 32767 + 1e-6)


def test_a_rendering_within_full_scale_is_written_as_rendered(tmp_path):
    audio = burst(over=0.95)
    with Spool() as spool:
        spool.append(audio)
        info = finish_output(spool, None)
        write_spool(tmp_path / "a.wav", spool, 16000)
    assert not info["limited"] and limited_note(info) == ""
    np.testing.assert_array_equal(info["audio"], audio)
    np.testing.assert_allclose(sf.read(tmp_path / "a.wav", dtype="float32")[0], audio, rtol=0, atol=1 / 32767 + 1e-6)
