"""Oversampled FM (ddx7.synth.oversample): analytic behaviour of the decimation filter and the synth."""

import math

import pytest
import torch

from ddx7 import HOP, SAMPLE_RATE
from ddx7.models import DDX7, build_model, count_parameters
from ddx7.synth.fm import FMSynth
from ddx7.synth.oversample import check_oversample, decimate, decimation_filter, decimation_kernel, group_delay_s


def response_db(h: torch.Tensor, freqs_hz, fast_rate: float) -> list[float]:
    n = torch.arange(h.shape[0], dtype=torch.float64)
    out = []
    for f in freqs_hz:
        z = torch.exp(-2j * math.pi * f / fast_rate * n)
        out.append(20 * math.log10(abs(complex((h.to(torch.complex128) * z).sum())) + 1e-300))
    return out


@pytest.mark.parametrize("factor", [2, 4])
def test_decimation_filter_passes_the_band_and_stops_what_would_fold(factor):
    h = decimation_filter(factor)
    assert torch.allclose(h, h.flip(0)) and abs(float(h.sum()) - 1) < 1e-12  # linear phase, unit DC gain
    fast = factor * SAMPLE_RATE
    passband = response_db(h, [100, 1000, 3000, 5000, 6000], fast)
    assert max(abs(x) for x in passband) < 0.1
    # everything from Nyquist up to the fast Nyquist would fold into the audio band: at least 65 dB down
    stop = response_db(h, torch.linspace(SAMPLE_RATE / 2, fast / 2, 200).tolist(), fast)
    assert max(stop) < -65


def constant_tone(synth: FMSynth, ratio: float, f0: float = 1000.0, frames: int = 100) -> torch.Tensor:
    """The 2-operator patch with its modulator silent: a carrier sine at ratio · f0, full scale."""
    env = torch.zeros(1, frames, 2)
    env[..., 0] = synth.max_ol
    return synth.get_signal(torch.full((1, frames), f0), env, ratios=[ratio, 1.0])[0]


@pytest.mark.parametrize("factor", [2, 4])
def test_a_partial_above_nyquist_is_removed_instead_of_folding(factor):
    plain = constant_tone(FMSynth("2osc", 2.0), ratio=9.0)  # 9 kHz at fs 16 kHz: folds to 7 kHz
    over = constant_tone(FMSynth("2osc", 2.0, oversample=factor), ratio=9.0)
    settled = slice(HOP * 10, None)
    assert plain[settled].pow(2).mean() == pytest.approx(0.5, rel=1e-3)
    assert over[settled].pow(2).mean() < 1e-6


@pytest.mark.parametrize("factor", [2, 3])
def test_a_partial_below_nyquist_is_the_same_sine_delayed_by_the_filter(factor):
    f = 1000.0
    over = constant_tone(FMSynth("2osc", 2.0, oversample=factor), ratio=1.0, f0=f)
    n = torch.arange(over.shape[0], dtype=torch.float64)
    # sample n of the plain render has phase 2π f (n + 1) / fs (the phase sum includes sample n)
    expected = torch.sin(2 * math.pi * f * ((n + 1) / SAMPLE_RATE - group_delay_s(factor, SAMPLE_RATE)))
    settled = slice(HOP * 10, None)
    assert (over.double()[settled] - expected[settled]).abs().max() < 1e-3


def test_decimation_in_blocks_with_history_equals_one_pass():
    torch.manual_seed(0)
    factor, h = 2, decimation_filter(2).float()
    fast = torch.randn(3, factor * 640)
    whole = decimate(fast, factor, h)
    keep = h.shape[0] - factor
    history = torch.zeros(3, keep)
    parts = []
    for block in fast.split(factor * 64, dim=1):
        parts.append(decimate(block, factor, h, history))
        history = torch.cat([history, block], 1)[:, -keep:]
    assert torch.allclose(torch.cat(parts, 1), whole, atol=1e-6)


def test_oversampled_model_keeps_its_parameters_config_and_gradients():
    plain, over = DDX7("violin-6osc", 2.0, dropout=0.0), DDX7("violin-6osc", 2.0, dropout=0.0, oversample=2)
    assert count_parameters(over) == count_parameters(plain)
    again = build_model(over.config)
    assert again.synth.oversample == 2 and "oversample" not in plain.config
    f0, ld = torch.full((2, 50), 440.0), torch.full((2, 50), -30.0)
    audio = over(f0, ld)
    assert audio.shape == (2, 50 * HOP)
    audio.pow(2).sum().backward()
    assert all(p.grad is not None for p in over.decoder.parameters() if p.requires_grad)


@pytest.mark.parametrize("bad", [0, 1.5, True, 17, float("nan"), "2"])
def test_bad_oversampling_factors_are_refused(bad):
    with pytest.raises(ValueError, match="oversample"):
        check_oversample(bad)


WIDE = {"cutoff": 0.97, "taps_per_factor": 96}


def test_a_wider_decimation_filter_keeps_the_top_of_the_band_and_still_stops_what_would_fold():
    """model.decimation: the default filter is already −2.4 dB at 7 kHz and −17 dB at 7.5 kHz (the top 1 kHz of a
    16 kHz recording, which the MSS loss compares in log magnitude); cutoff 0.97 with 96 taps per factor keeps
    it flat to 7.5 kHz and still puts everything that would fold back into 0–7.75 kHz 70 dB down."""
    fast = 2 * SAMPLE_RATE
    default, wide = decimation_filter(2), decimation_kernel(2, WIDE)
    assert wide.shape[0] == 192 and torch.allclose(wide, wide.flip(0)) and abs(float(wide.sum()) - 1) < 1e-12
    assert response_db(default, [7500], fast)[0] < -10
    assert max(abs(x) for x in response_db(wide, [100, 3000, 6000, 7000, 7500], fast)) < 0.3
    # a component at f in [8.25 kHz, 16 kHz] folds to 16 kHz − f in [0, 7.75 kHz]
    assert max(response_db(wide, torch.linspace(8250, fast / 2, 200).tolist(), fast)) < -70
    assert torch.equal(decimation_kernel(2, None), default) and torch.equal(decimation_kernel(2, {}), default)


def test_model_decimation_round_trips_through_the_config_and_is_checked():
    model = DDX7("2osc", "2pi", hidden=16, oversample=2, decimation=WIDE)
    assert model.config["decimation"] == WIDE and "decimation" not in DDX7("2osc", oversample=2).config
    again = build_model(model.config)
    assert torch.equal(again.synth.decimation_kernel, model.synth.decimation_kernel)
    assert torch.equal(model.synth.decimation_kernel, decimation_kernel(2, WIDE).float())
    tone = constant_tone(FMSynth("2osc", 2.0, oversample=2, decimation=WIDE), ratio=7.4, f0=1000.0)
    cut = constant_tone(FMSynth("2osc", 2.0, oversample=2), ratio=7.4, f0=1000.0)
    settled = slice(HOP * 10, None)
    assert tone[settled].pow(2).mean() == pytest.approx(0.5, rel=0.02)  # 7.4 kHz passes
    assert cut[settled].pow(2).mean() < 0.5 * 10 ** (-8 / 10)  # the default filter takes > 8 dB off it
    for bad, words in [({"cutoff": 1.2}, "cutoff"), ({"cutoff": True}, "cutoff"),
                       ({"taps": 96}, "takes cutoff and taps_per_factor"),
                       ({"taps_per_factor": 4}, "taps_per_factor")]:
        with pytest.raises(ValueError, match=words):
            DDX7("2osc", oversample=2, decimation=bad)
    with pytest.raises(ValueError, match="only applies with model.oversample"):
        DDX7("2osc", decimation=WIDE)
