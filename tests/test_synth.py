import math
from unittest import mock

import numpy as np
import pytest
import torch
from scipy.special import jv

from ddx7 import HOP, SAMPLE_RATE
from ddx7.synth import (
    PATCHES,
    FMSynth,
    Patch,
    accumulate_phase,
    get_patch,
    harmonic,
    modulator_gains,
    modulator_ratios,
    paper_intervention,
    parse_imax,
    upsample_frames,
)
from ddx7.synth.fm import render_fm
from ddx7.synth.harmonic import harmonic_amplitudes, harmonic_bank, harmonic_frames, render_harmonics, render_hpn
from ddx7.synth.sampling import RunningPhase, wrap_phase


def constant_note(patch, imax, levels, f0, seconds=1.0, ratios=None):
    synth = FMSynth(patch, imax)
    frames = int(seconds * SAMPLE_RATE / HOP)
    env = torch.tensor(levels).expand(1, frames, -1) * synth.max_ol
    with torch.no_grad():
        return synth.get_signal(torch.full((1, frames), f0), env, ratios=ratios)[0].double().numpy()


def line_amplitudes(audio):
    """Amplitude of each 1 Hz bin for a 1 s signal whose partials are integer Hz (no leakage)."""
    assert len(audio) == SAMPLE_RATE
    return np.abs(np.fft.rfft(audio)) * 2 / len(audio)


@pytest.mark.parametrize("imax, mod_level", [(2.0, 1.0), (2 * math.pi, 0.5), (2.0, 0.3), (4 * math.pi, 0.25)])
def test_two_operator_sidebands_follow_bessel(imax, mod_level):
    fc, fm = 1000, 100  # ratios 1 and 0.1 at f0 = 1000 Hz: sidebands never fold below 0 Hz for these indices
    audio = constant_note("2osc", imax, [1.0, mod_level], fc, ratios=[1.0, 0.1])
    spectrum = line_amplitudes(audio)
    index = mod_level * imax
    for n in range(-6, 7):
        expected = abs(jv(n, index))
        measured = spectrum[fc + n * fm]
        assert measured == pytest.approx(expected, rel=0.01, abs=2e-4), (n, index)
    # nothing between the sidebands
    off_grid = np.delete(spectrum, [fc + n * fm for n in range(-10, 11)])
    assert off_grid.max() < 1e-3


def test_carrier_alone_is_a_pure_sine_at_ratio_times_f0():
    f0, ratio = 220, 3.0
    audio = constant_note("2osc", 2.0, [1.0, 0.0], f0, ratios=[ratio, 1.0])
    spectrum = line_amplitudes(audio)
    assert spectrum.argmax() == f0 * ratio
    assert spectrum[int(f0 * ratio)] == pytest.approx(1.0, abs=1e-3)
    assert np.delete(spectrum, int(f0 * ratio)).max() < 1e-3
    n = np.arange(1, SAMPLE_RATE + 1)  # phase after the first increment, as accumulate_phase defines it
    np.testing.assert_allclose(audio, np.sin(2 * np.pi * f0 * ratio * n / SAMPLE_RATE), atol=1e-5)


@pytest.mark.parametrize("name", list(PATCHES))
def test_every_patch_renders_a_batch_and_passes_gradients_to_every_envelope(name):
    patch = PATCHES[name]
    synth = FMSynth(patch, 2 * math.pi)
    batch, frames = 3, 50
    torch.manual_seed(0)
    z = torch.randn(batch, frames, patch.n_ops, requires_grad=True)
    f0 = 100 + 300 * torch.rand(batch, frames)
    audio = synth(f0, z)
    assert audio.shape == (batch, frames * HOP)
    assert torch.isfinite(audio).all()
    assert audio.abs().max() <= len(patch.carriers) + 1e-5
    audio.pow(2).mean().backward()
    assert torch.isfinite(z.grad).all()
    for k in range(patch.n_ops):
        assert z.grad[..., k].abs().sum() > 0, f"no gradient reaches OP{k + 1} of {name}"


def test_upsampling_is_causal_linear_interpolation():
    frames = torch.tensor([[[0.0], [1.0], [3.0]]])
    up = upsample_frames(frames, hop=4)[0, :, 0]
    np.testing.assert_allclose(up.numpy(), [0, 0, 0, 0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])
    # a block that starts with the previous block's last frame continues the same ramp
    tail = upsample_frames(frames[:, 2:], hop=4, previous=frames[:, 1:2])[0, :, 0]
    np.testing.assert_allclose(tail.numpy(), up[8:].numpy())


def test_upsampling_channels_first_is_the_same_samples():
    frames = torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0))
    previous = torch.randn(3, 1, 5, generator=torch.Generator().manual_seed(1))
    for prev in (None, previous):
        last = upsample_frames(frames, hop=8, previous=prev)
        first = upsample_frames(frames, hop=8, previous=prev, channels_first=True)
        assert first.shape == (3, 5, 56) and first.is_contiguous()
        assert torch.equal(first, last.transpose(1, 2))


def test_fm_channels_first_equals_the_channels_last_render():
    """FMSynth renders with channels_first (faster): the samples of render_fm's [B, N, K] path."""
    synth = FMSynth("violin-6osc", "4pi")
    g = torch.Generator().manual_seed(0)
    f0 = 100 + 600 * torch.rand(2, 40, generator=g)
    env = synth.get_controls(torch.randn(2, 40, 6, generator=g))
    f0_s = upsample_frames(f0[..., None], HOP)[..., 0]
    reference = render_fm(f0_s, upsample_frames(env, HOP), synth.patch, synth.max_ol)
    assert torch.equal(synth.get_signal(f0, env), reference)


def test_harmonic_frames_equals_the_bank_on_upsampled_amplitudes_with_its_gradient():
    """harmonic_frames (pieces, hand-written backward) == harmonic_bank(upsample_frames(·)) and autograd."""
    g = torch.Generator().manual_seed(0)
    b, t, h, hop = 2, 37, 9, 16
    phase = 2 * math.pi * torch.rand(b, t * hop, 1, generator=g)
    grad_out = torch.randn(b, t * hop, generator=g)
    for with_previous in (False, True):
        amps = torch.rand(b, t, h, generator=g).requires_grad_()
        previous = torch.rand(b, 1, h, generator=g).requires_grad_() if with_previous else None
        reference = harmonic_bank(phase, upsample_frames(amps, hop, previous))
        ref_grads = torch.autograd.grad(reference, [amps] + ([previous] if with_previous else []), grad_out)
        for piece in (1 << 20, 3 * hop * h * b, 1):  # one piece, several, one frame each
            with mock.patch.object(harmonic, "HARMONIC_PIECE_ELEMENTS", piece):
                out = harmonic_frames(phase, amps, hop, previous)
                grads = torch.autograd.grad(out, [amps] + ([previous] if with_previous else []), grad_out)
            assert torch.equal(out, reference)
            for got, want in zip(grads, ref_grads):
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_phase_accumulation_continues_across_blocks():
    f0 = 200 + 500 * torch.rand(2, 3000)
    whole, _ = accumulate_phase(f0, [1.0, 3.2, 14.0])
    first, state = accumulate_phase(f0[:, :1234], [1.0, 3.2, 14.0])
    second, _ = accumulate_phase(f0[:, 1234:], [1.0, 3.2, 14.0], initial=state)
    joined = torch.cat([first, second], 1)
    diff = torch.remainder(joined - whole + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-5
    assert (whole >= 0).all() and (whole < 2 * math.pi + 1e-6).all()


def test_wrapped_phase_is_the_exact_remainder_to_float64_rounding():
    """wrap_phase takes x − 2π·⌊x/2π⌋ for speed: within a few float64 ulps of x of the exact remainder (fmod is
    exact), far below a float32 phase's resolution, and in [0, 2π] up to that rounding; phases up to a stream's
    rebase limit (2^22 samples at 2 kHz × ratio 14)."""
    f0 = 50 + 1950 * torch.rand(2, 64000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    omega = torch.cumsum(2 * math.pi * f0 / SAMPLE_RATE, 1) * torch.tensor([[1.0], [65.0]], dtype=torch.float64)
    ratios = torch.tensor([0.5, 1.0, 3.2, 14.0], dtype=torch.float64)
    offset = 2 * math.pi * torch.rand(2, 1, 4, dtype=torch.float64)
    two_pi = torch.tensor(2 * math.pi, dtype=torch.float64)
    x = omega[..., None] * ratios + offset
    exact = torch.fmod(x, two_pi)
    phase = wrap_phase(omega[..., None], ratios, two_pi, offset)
    diff = torch.remainder(phase - exact + math.pi, 2 * math.pi) - math.pi
    ulps = diff.abs() / (torch.finfo(torch.float64).eps * x)
    assert x.max() > 2 ** 23 and ulps.max() <= 4
    slack = 1e-9
    assert (phase >= -slack).all() and (phase <= two_pi + slack).all()
    # as the synth takes them, float32: at most one float32 ulp (2^-21 below 2π) apart, mostly equal
    apart = (torch.remainder(phase.float().double() - exact.float().double() + math.pi, 2 * math.pi) - math.pi).abs()
    assert apart.max() <= 2 ** -21 and (apart == 0).double().mean() > 0.99


def test_running_phase_continues_the_offline_phase_bit_for_bit():
    """A stream's phases (RunningPhase, used by ddx7.stream) == accumulate_phase of the whole excerpt,
    exactly; folded mod 2π every few blocks they stay equal to float64 rounding."""
    f0 = 50 + 1500 * torch.rand(2, 64 * 80, generator=torch.Generator().manual_seed(0))
    ratios = [1.0, 3.2, 14.0]
    whole, last = accumulate_phase(f0, ratios)
    for rebase_samples, exact in ((1 << 22, True), (5 * HOP, False)):
        running = RunningPhase(ratios, rebase_samples=rebase_samples)
        running.reset(2)
        sizes, blocks, start = [1, 3, 2, 7, 16], [], 0
        while start < f0.shape[1]:
            n = HOP * sizes[len(blocks) % len(sizes)]
            blocks.append(running.advance(f0[:, start:start + n]))
            start += n
        joined = torch.cat(blocks, 1)
        if exact:
            assert torch.equal(joined, whole) and torch.equal(running.phases(), last)
        else:
            diff = torch.remainder(joined - whole + math.pi, 2 * math.pi) - math.pi
            assert running.use_offset and diff.abs().max() < 1e-5  # it did fold


def test_patch_table_matches_the_paper():
    violin = get_patch("violin-6osc")
    assert violin.graph_str() == "OP6→OP5, OP5→OP4, OP4→OP3, OP2→OP1"
    assert violin.carriers == [0, 2] and violin.ratios == [1, 1, 1, 1, 3, 14]
    assert get_patch("flute-6osc").modulators == {0: [1, 2, 4], 2: [3], 4: [5]}
    assert get_patch("trumpet-6osc").ratios == [1, 1, 1, 1, 3.2, 8.5]
    assert get_patch("violin-4osc-2x2").carriers == [0, 2]
    assert len(PATCHES) == 8
    for p in PATCHES.values():  # top-down order: every modulator is evaluated before its target
        pos = {op: i for i, op in enumerate(p.order)}
        assert all(pos[s] < pos[d] for d, srcs in p.modulators.items() for s in srcs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(modulators={0: [1], 1: [0]}, carriers=[0], ratios=[1, 1]), "cycle"),
    (dict(modulators={0: [3]}, carriers=[0], ratios=[1, 1]), "unknown operator"),
    (dict(modulators={0: [1]}, carriers=[], ratios=[1, 1]), "no carrier"),
    (dict(modulators={0: [0]}, carriers=[0], ratios=[1]), "itself"),
    (dict(modulators={}, carriers=[0], ratios=[1, -2]), "positive"),
])
def test_invalid_patches_are_rejected_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Patch("bad", **kwargs)


def test_unknown_patch_and_wrong_ratio_count():
    with pytest.raises(ValueError, match="unknown patch 'cello'"):
        get_patch("cello")
    with pytest.raises(ValueError, match="3 ratios for 2 operators"):
        get_patch("2osc").with_ratios([1, 2, 3])
    with pytest.raises(ValueError, match="ratios"):
        FMSynth("2osc").get_signal(torch.full((1, 4), 100.0), torch.zeros(1, 4, 2), ratios=[1, 2, 3])


@pytest.mark.parametrize("bad", [float("nan"), -100.0, 0.0])
def test_bad_f0_is_rejected(bad):
    f0 = torch.full((1, 10), 220.0)
    f0[0, 3] = bad
    with pytest.raises(ValueError, match="f0"):
        FMSynth("2osc").get_signal(f0, torch.zeros(1, 10, 2))


def test_imax_parsing():
    assert parse_imax("2pi") == pytest.approx(2 * math.pi)
    assert parse_imax("4π") == pytest.approx(4 * math.pi)
    assert parse_imax(2) == 2.0
    assert FMSynth("2osc", "2pi").max_ol == pytest.approx(1.0)
    assert FMSynth("2osc", 2).max_ol == pytest.approx(0.3183, abs=1e-4)
    with pytest.raises(ValueError):
        parse_imax("loud")


def test_paper_interventions():
    assert modulator_ratios("violin-6osc", 1, 3) == [1, 3, 1, 3, 3, 14]  # OP2, OP4, OP5 modulate; OP1, OP3 carry
    assert modulator_gains("flute-6osc", 2) == [1, 2, 2, 2, 2, 2]
    assert paper_intervention("trumpet", "2osc").ratios == [1, pytest.approx(math.sqrt(2))]
    with pytest.raises(ValueError, match="cello"):
        paper_intervention("cello", "2osc")


def test_envelope_gain_intervention_equals_a_larger_modulation_index():
    doubled = constant_note("2osc", 2.0, [1.0, 0.5], 440.0, 0.25)
    synth = FMSynth("2osc", 2.0)
    env = torch.tensor([1.0, 0.5]).expand(1, 62, -1) * synth.max_ol
    with torch.no_grad():
        gained = synth.get_signal(torch.full((1, 62), 440.0), env, env_gain=[1.0, 2.0])[0].numpy()
    reference = constant_note("2osc", 2.0, [1.0, 1.0], 440.0, 0.25)
    np.testing.assert_allclose(gained, reference[: len(gained)], atol=1e-5)
    assert np.abs(gained - doubled[: len(gained)]).max() > 0.1


def test_harmonic_bank_silences_partials_above_nyquist():
    f0 = torch.full((1, 10), 700.0)
    dist = torch.ones(1, 10, 60)
    amps = harmonic_amplitudes(f0, torch.ones(1, 10, 1), dist)
    audible = int((SAMPLE_RATE / 2 - 1) // 700)  # 11 partials below 8 kHz
    assert (amps[..., audible:] == 0).all()
    np.testing.assert_allclose(amps.sum(-1).numpy(), 1.0, rtol=1e-6)
    f0_s = torch.full((1, SAMPLE_RATE), 700.0)
    audio = render_harmonics(f0_s, amps[:, :1].expand(1, SAMPLE_RATE, -1))[0].double().numpy()
    spectrum = line_amplitudes(audio)
    assert spectrum[700 * 3] == pytest.approx(1 / audible, rel=1e-3)
    assert spectrum[SAMPLE_RATE - 700 * 12] < 1e-4  # where the 12th partial would alias


def test_filtered_noise_follows_its_band_magnitudes():
    torch.manual_seed(0)
    frames = 500
    low = torch.zeros(1, frames, 65)
    low[..., :8] = 1.0  # pass only the lowest eighth of the band
    f0 = torch.full((1, frames), 100.0)
    silent = torch.zeros(1, frames, 60)
    audio = render_hpn(f0, silent, low, generator=torch.Generator().manual_seed(1))[0].numpy()
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    assert power[freqs < 1000].sum() > 50 * power[freqs > 2000].sum()
    assert np.isfinite(audio).all() and audio.std() > 1e-3
