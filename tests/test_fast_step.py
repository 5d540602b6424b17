"""The training step's fast paths (issue 15) equal the plain formulations they replace: the TCN as ``nn.Conv1d``
on [B, C, T], the FM synth through autograd on sample-rate envelopes, the reverb as a direct convolution and the
multi-scale spectral loss through ``torch.stft`` — loss to 1e-5 relative, gradients to 1e-4 of their largest value."""

import pytest
import torch
import torch.nn.functional as F
from test_losses import reference_loss

from ddx7 import HOP
from ddx7.models import DDX7, layers
from ddx7.models.layers import causal_conv, shifted_weight_grad
from ddx7.synth.fm import FMSynth, render_fm
from ddx7.synth.oversample import decimate
from ddx7.synth.patches import PATCHES
from ddx7.synth.sampling import upsample_frames


def rel(a, b):
    return float((a - b).detach().abs().max() / b.detach().abs().max())


def reference_tcn(decoder, f0_hz, loudness_db):
    """The TCN as written before the channels-last path: weight-normalised conv1d on [B, C, T], left-padded."""
    x = decoder.inputs.stacked(f0_hz, loudness_db, 1)
    for block in decoder.blocks:
        def conv(causal, h):
            w = causal.conv.weight
            return F.conv1d(F.pad(h, ((w.shape[-1] - 1) * causal.dilation, 0)), w, causal.conv.bias,
                            dilation=causal.dilation)
        h = conv(block.conv2, torch.relu(conv(block.conv1, x)))
        h = h if block.last else torch.relu(h)
        out = h + (x if block.residual is None else block.residual(x))
        x = out if block.last else torch.relu(out)
    return x.transpose(1, 2)


def reference_fm(synth, f0_hz, envelopes):
    """FMSynth.get_signal through autograd: sample-rate envelopes, ``render_fm``, then the decimation."""
    m = synth.oversample
    f0_s = upsample_frames(f0_hz[..., None], HOP * m, channels_first=True)[:, 0]
    env_s = upsample_frames(envelopes, HOP * m, channels_first=True)
    audio = render_fm(f0_s, env_s, synth.patch, synth.max_ol, None, synth.sample_rate * m, channels_first=True)
    return audio if m == 1 else decimate(audio, m, synth.decimation_kernel)


@pytest.mark.parametrize("shape, dilation", [((2, 50, 5, 7, 3), 1), ((3, 40, 8, 6, 3), 4), ((2, 20, 4, 3, 3), 16),
                                             ((4, 300, 128, 128, 3), 8), ((1, 10, 2, 5, 1), 1)])
@pytest.mark.parametrize("epilogue", ["none", "relu", "relu+dropout", "relu+dropout 0.3"])
@pytest.mark.parametrize("path", ["onednn", "taps"])
def test_causal_conv_equals_conv1d(shape, dilation, epilogue, path, monkeypatch):
    monkeypatch.setattr(layers, "SMALL_CONV_FRAMES", -1 if path == "onednn" else 10 ** 9)  # forward and backward
    torch.manual_seed(0)
    b, t, c_in, c_out, kernel = shape
    x = torch.randn(b, t, c_in, requires_grad=True)
    w, bias = torch.randn(c_out, c_in, kernel, requires_grad=True), torch.randn(c_out, requires_grad=True)
    p = {"relu+dropout": 0.5, "relu+dropout 0.3": 0.3}.get(epilogue)
    keep = (torch.rand(b, t, c_out) >= p).to(torch.uint8) if p else None
    scale = 1 / (1 - p) if p else 1.0  # ½ → 2 (exact in float32), 0.3 → 1/0.7 (not)
    want = F.conv1d(F.pad(x.mT, ((kernel - 1) * dilation, 0)), w, bias, dilation=dilation).mT
    if epilogue != "none":
        want = torch.relu(want)
    if keep is not None:
        want = want * keep * scale
    got = causal_conv(x, w, bias, dilation, epilogue != "none", keep, scale)
    assert got.shape == want.shape and rel(got, want) < 1e-5
    grad = torch.randn_like(want)
    for a, r in zip(torch.autograd.grad(got, [x, w, bias], grad), torch.autograd.grad(want, [x, w, bias], grad)):
        assert rel(a, r) < 1e-5


@pytest.mark.parametrize("b, t, shift", [(3, 40, 1), (3, 40, 7), (5, 13, 12), (2, 300, 16), (4, 1000, 32),
                                         (1, 50, 3), (2, 10, 10), (2, 10, 25)])
def test_shifted_weight_grad_equals_the_padded_product(b, t, shift):
    torch.manual_seed(0)
    g, x = torch.randn(b, t, 6, dtype=torch.float64), torch.randn(b, t, 5, dtype=torch.float64)
    shifted = F.pad(x[:, :max(t - shift, 0)], (0, 0, min(shift, t), 0))  # x[b, t − shift], 0 before t = shift
    want = torch.einsum("bto,bti->oi", g, shifted)
    assert torch.allclose(shifted_weight_grad(g, x, shift), want, rtol=1e-12, atol=1e-12)


def test_causal_conv_rejects_bad_shapes_and_dropout_without_relu():
    with pytest.raises(ValueError, match="causal_conv expects"):
        causal_conv(torch.zeros(2, 10, 3), torch.zeros(4, 5, 3), None)
    with pytest.raises(ValueError, match="follows its ReLU"):
        causal_conv(torch.zeros(2, 10, 3), torch.zeros(4, 3, 3), None, keep=torch.ones(2, 10, 4, dtype=torch.uint8))


def test_tcn_equals_the_conv1d_reference():
    torch.manual_seed(0)
    model = DDX7("violin-6osc", 2.0, dropout=0.0, init={"carrier": -2.0, "modulator": -4.0, "gain": 0.5}).train()
    f0, loudness = 200 + 100 * torch.rand(3, 150), -50 + 30 * torch.rand(3, 150)
    got, want = model.decoder(f0, loudness), reference_tcn(model.decoder, f0, loudness)
    assert rel(got, want) < 1e-5
    grad, params = torch.randn_like(got), list(model.decoder.parameters())
    for a, r in zip(torch.autograd.grad(got, params, grad), torch.autograd.grad(want, params, grad)):
        assert rel(a, r) < 1e-5


@pytest.mark.parametrize("oversample", [1, 2])
@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_fm_synth_equals_autograd_through_render_fm(patch, oversample):
    """The same samples bit for bit (the forward is render_fm's loop), the envelopes' gradient to 1e-5."""
    torch.manual_seed(0)
    synth = FMSynth(patch, 4.0, oversample=oversample)
    f0 = 150 + 300 * torch.rand(2, 30)
    z = torch.randn(2, 30, synth.n_ops, requires_grad=True)
    envelopes = synth.get_controls(z)
    got, want = synth.get_signal(f0, envelopes), reference_fm(synth, f0, envelopes)
    assert torch.equal(got, want)
    grad = torch.randn_like(want)
    (a,), (r,) = (torch.autograd.grad(y, [z], grad, retain_graph=True) for y in (got, want))
    assert rel(a, r) < 1e-5


PAPER = {"patch": "violin-6osc", "imax": 2.0}
FULL = {"patch": "2osc", "imax": 6.283, "oversample": 2, "reverb_seconds": 0.25,
        "init": {"carrier": -2.0, "modulator": -4.0, "gain": 0.1}}


@pytest.mark.parametrize("config, dtype, eps", [(PAPER, torch.float64, 1e-7), (FULL, torch.float64, 1e-5),
                                                (PAPER, torch.float32, 1e-7)],
                         ids=["paper-float64", "full-profile-float64", "paper-float32"])
def test_training_step_equals_the_plain_step(config, dtype, eps):
    """A whole step through the public API — model forward, MultiScaleSpectralLoss, backward — against the same
    weights run the plain way: loss to 1e-5 relative, every parameter's gradient to 1e-4 of its largest value.

    float64 checks the identity. In float32 the reverb's noise gradient (a float32 FFT correlation over 16,000
    taps) is held to 1e-3: the plain step's own is 4e-4 from float64. The full profile's quiet, oversampled
    2-operator synth is checked in float64 only: its decimated spectrum lies under float32's noise floor, where
    the log term makes any float32 step ~1e-3 (loss) and ~5e-2 (gradients) from float64 — the plain one more so
    than ours (1.1e-3 and 5.2e-2 against 3.0e-4 and 2.2e-2)."""
    from ddx7.losses import MultiScaleSpectralLoss

    torch.manual_seed(0)
    model = DDX7(**config, dropout=0.0).to(dtype).train()
    with torch.no_grad():
        model.reverb.wet.fill_(0.3)  # wet, so that the reverb's parameters get gradients too
    f0, loudness = (200 + 200 * torch.rand(2, 125)).to(dtype), (-50 + 30 * torch.rand(2, 125)).to(dtype)
    target = 0.1 * torch.randn(2, 125 * HOP, dtype=dtype)
    fft_sizes = (2048, 1024, 512, 256, 128, 64)
    loss = MultiScaleSpectralLoss(fft_sizes, eps=eps).to(dtype)(model(f0, loudness), target)
    names, params = zip(*model.named_parameters())
    grads = torch.autograd.grad(loss, params)

    tail = model.reverb.tail()
    dry = reference_fm(model.synth, f0, model.synth.get_controls(reference_tcn(model.decoder, f0, loudness)))
    wet = F.conv1d(F.pad(dry[:, None], (tail.shape[0] - 1, 0)), tail.flip(0)[None, None])[:, 0]
    want = reference_loss(dry + wet, target, fft_sizes, eps=eps)
    assert abs(float(loss - want)) <= 1e-5 * float(want)
    for name, a, r in zip(names, grads, torch.autograd.grad(want, params)):
        assert rel(a, r) < (1e-3 if name == "reverb.noise" and dtype == torch.float32 else 1e-4), name
