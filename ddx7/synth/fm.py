"""Differentiable FM synthesis (no feedback), DX7-style operators driven by envelopes.

Operator k:   y_k[n] = a_k[n] · sin(φ_k[n] + 2π · Σ_{j → k} y_j[n]),   φ_k[n] = r_k · Σ_{m≤n} 2π f0[m] / fs
Output:       x[n]   = Σ_{c ∈ carriers} y_c[n] / max_ol,               Imax = 2π · max_ol

Envelopes are a_k = max_ol · sigmoid(z_k). The phases and the envelopes' upsampling: ddx7/synth/sampling.py.

JavaScript copies (ddx7/web/fm_panel.js for the interventions panel, ddx7/web/ddx7_model.js for the live
page) are compared with these functions by tests/test_web_panel.py and tests/test_web_live.py.

One home for these formulas: the streaming renderers (ddx7/stream.py: StreamingDDX7, compiled
with TorchScript, and StreamingHpN) call the functions below — ``fm_operators``, ``mix_carriers``,
``fm_envelopes`` — so these are TorchScript-compatible and take their constants as 0-dim tensors
(``sampling.constant``; see ddx7/synth/sampling.py).
One copy remains, in JavaScript: ddx7/web/fm_panel.js (``upsampleF0``, ``baseOmega``,
``renderFM``) renders the kernel-free panel; tests/test_web_panel.py checks it against
``FMSynth.get_signal`` for every patch. Change the equations here and there together.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .. import HOP, SAMPLE_RATE
from .oversample import check_decimation, check_oversample, decimate, decimation_kernel
from .patches import Patch, get_patch, parse_imax
from .sampling import TWO_PI, constant, frame_ramp, operator_phases, upsample_frames

# samples per piece of _FramesFM's forward (rounded down to whole frames): its ~10 float32 temporaries and the
# piece's upsampled envelopes stay in a core's L2 cache
FM_BLOCK = 1 << 16


def operator_graph(patch: Patch) -> tuple[list[int], list[list[int]], list[int]]:
    """A patch as :func:`fm_operators` and :func:`mix_carriers` take it: (evaluation order, the
    modulators of every operator, carriers)."""
    return list(patch.order), [list(patch.modulators.get(k, [])) for k in range(patch.n_ops)], list(patch.carriers)


def fm_operators(phases: list[Tensor], envelopes: list[Tensor], order: list[int],
                 modulators: list[list[int]], two_pi: Tensor) -> list[Tensor]:
    """Every operator's output y_k [B, N], top of each stack first (``order``).

    phases, envelopes: one [B, N] tensor per operator (``x.unbind(-1)`` of [B, N, K]);
    ``modulators[k]`` lists the operators that modulate operator k; ``two_pi``: 2π in the
    envelopes' dtype.
    """
    outs = list(envelopes)  # placeholders: each is replaced (in ``order``) before it is read
    for k in order:
        arg = phases[k]
        for j in modulators[k]:
            arg = arg + two_pi * outs[j]
        outs[k] = envelopes[k] * torch.sin(arg)
    return outs


def mix_carriers(outs: list[Tensor], carriers: list[int], max_ol: Tensor | None) -> Tensor:
    """The audio x = Σ_carriers y_c / max_ol from the operator outputs [B, N] (max_ol in their dtype; None: the
    caller divides later, e.g. folded into a following linear map)."""
    audio = outs[carriers[0]]
    for c in carriers[1:]:
        audio = audio + outs[c]
    if max_ol is None:
        return audio
    return audio / max_ol


def fm_envelopes(z: Tensor, max_ol: Tensor) -> Tensor:
    """Decoder outputs z [..., K] → envelopes a_k = max_ol · sigmoid(z_k) (max_ol in z's dtype)."""
    return max_ol * torch.sigmoid(z)


def render_fm(f0_samples: Tensor, envelopes: Tensor, patch: Patch | str, max_ol: float,
              ratios=None, sample_rate: int = SAMPLE_RATE, initial_phase: Tensor | None = None,
              return_phase: bool = False, channels_first: bool = False):
    """FM audio [B, N] from sample-rate f0 [B, N] (Hz) and envelopes [B, N, K] (amplitudes a_k),
    or [B, K, N] with ``channels_first`` (faster: every operator's samples contiguous).

    ``initial_phase`` [B, K] continues from a previous block's last phase, which ``return_phase``
    returns as (audio, last phase).
    """
    patch = get_patch(patch)
    k_axis, n_axis = (1, 2) if channels_first else (2, 1)
    if envelopes.dim() != 3 or envelopes.shape[k_axis] != patch.n_ops:
        raise ValueError(f"patch {patch.name!r} has {patch.n_ops} operators, got envelopes {tuple(envelopes.shape)}")
    if (envelopes.shape[0], envelopes.shape[n_axis]) != tuple(f0_samples.shape):
        raise ValueError(f"f0 {tuple(f0_samples.shape)} and envelopes {tuple(envelopes.shape)} differ in length")
    ratios = patch.ratios if ratios is None else ratios
    phases, last = operator_phases(f0_samples, ratios, sample_rate, initial_phase)
    order, modulators, carriers = operator_graph(patch)
    dtype, device = envelopes.dtype, envelopes.device
    outs = fm_operators(phases, envelopes.unbind(k_axis), order, modulators,
                        constant(TWO_PI, dtype, device))
    audio = mix_carriers(outs, carriers, constant(max_ol, dtype, device))
    return (audio, last) if return_phase else audio


class _FramesFM(torch.autograd.Function):
    """audio [B, N] = mix_carriers(fm_operators(phases, upsample_frames(envelopes, hop))) from frame-rate
    envelopes [B, T, K] and one phase [B, N = T · hop] per operator (no gradient), the same samples as those
    functions (the forward below is their loop, ops and order), with a hand-written backward.

    The forward runs a piece of one row at a time (:data:`FM_BLOCK` samples, whole frames): the envelopes'
    upsampling and the chain's temporaries stay in a core's cache (all at once, each of its ~20 passes streams
    [B, N] through memory). It keeps, for the backward, each operator's sine and, where it is modulated,
    2π · a_k · cos(arg_k) (the derivative of its output by its modulators), both computed once here; the
    envelopes' gradient goes back to the frames through one small product per operator
    (Σ_j g[t·hop + j] · [ramp_j, 1 − ramp_j]) instead of autograd's [B, K, T, hop] broadcast."""

    @staticmethod
    def forward(ctx, envelopes, phases, hop, graph, max_ol):
        order, modulators, carriers = graph
        b, frames, n_ops = envelopes.shape
        n = frames * hop
        dtype, device = envelopes.dtype, envelopes.device
        two_pi, scale = constant(TWO_PI, dtype, device), constant(max_ol, dtype, device)
        ramp = frame_ramp(hop, dtype, device)
        slopes_needed = [bool(modulators[k]) and ctx.needs_input_grad[0] for k in range(n_ops)]
        sines = [envelopes.new_empty(b, n) for _ in range(n_ops)]
        slopes = [envelopes.new_empty(b, n) if slopes_needed[k] else None for k in range(n_ops)]
        audio = envelopes.new_empty(b, n)
        span = max(1, FM_BLOCK // hop)  # frames per piece
        for row in range(b):
            for f0 in range(0, frames, span):
                f1 = min(frames, f0 + span)
                part = slice(f0 * hop, f1 * hop)
                previous = envelopes[row:row + 1, f0 - 1:f0] if f0 > 0 else None
                env = upsample_frames(envelopes[row:row + 1, f0:f1], hop, previous, ramp, channels_first=True)[0]
                outs: list[Tensor] = list(env.unbind(0))
                for k in order:  # fm_operators
                    arg = phases[k][row, part]
                    for j in modulators[k]:
                        arg = arg + two_pi * outs[j]
                    outs[k] = env[k] * torch.sin(arg, out=sines[k][row, part])
                    if slopes_needed[k]:
                        torch.mul(env[k] * torch.cos(arg), two_pi, out=slopes[k][row, part])
                audio[row, part] = mix_carriers(outs, carriers, scale)
        ctx.graph, ctx.hop, ctx.max_ol = graph, hop, max_ol
        ctx.save_for_backward(*sines, *[c for c in slopes if c is not None])
        return audio

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_audio):
        order, modulators, carriers = ctx.graph
        saved = ctx.saved_tensors
        n_ops, hop = len(modulators), ctx.hop
        sines, slopes = saved[:n_ops], iter(saved[n_ops:])
        slope_of = {k: next(slopes) for k in range(n_ops) if modulators[k]}  # saved in index order
        b, n = grad_audio.shape
        frames = n // hop
        ramp = frame_ramp(hop, sines[0].dtype, sines[0].device)
        weights = torch.stack([ramp, 1 - ramp], 1)  # [hop, 2]: ∂env_s/∂(this frame), ∂/∂(the frame before)
        grad_out: list[Tensor | None] = [None] * n_ops
        grad_mix = grad_audio / ctx.max_ol
        for c in carriers:
            grad_out[c] = grad_mix
        grad_env = grad_audio.new_zeros(b, frames, n_ops)
        for k in reversed(order):
            g = grad_out[k]
            if g is None:
                continue
            per_frame = (g * sines[k]).view(b, frames, hop) @ weights  # [B, T, 2]
            grad_env[:, :, k] = per_frame[..., 0]
            grad_env[:, :-1, k] += per_frame[:, 1:, 1]
            grad_env[:, 0, k] += per_frame[:, 0, 1]  # frame −1 is frame 0 held
            if modulators[k]:
                grad_arg = g * slope_of[k]
                for j in modulators[k]:
                    grad_out[j] = grad_arg if grad_out[j] is None else grad_out[j] + grad_arg
        return grad_env, None, None, None, None


def render_fm_frames(f0_samples: Tensor, envelopes: Tensor, patch: Patch | str, max_ol: float, hop: int,
                     ratios=None, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """FM audio [B, N] from sample-rate f0 [B, N] (Hz) and frame-rate envelopes [B, T, K], N = T · hop: the
    samples of ``render_fm(f0, upsample_frames(envelopes, hop), …)``, faster to train (:class:`_FramesFM`)."""
    patch = get_patch(patch)
    if envelopes.dim() != 3 or envelopes.shape[2] != patch.n_ops:
        raise ValueError(f"patch {patch.name!r} has {patch.n_ops} operators, got envelopes {tuple(envelopes.shape)}")
    if (envelopes.shape[0], envelopes.shape[1] * hop) != tuple(f0_samples.shape):
        raise ValueError(f"f0 {tuple(f0_samples.shape)} and envelopes {tuple(envelopes.shape)} differ in length")
    phases, _ = operator_phases(f0_samples, patch.ratios if ratios is None else ratios, sample_rate)
    return _FramesFM.apply(envelopes, phases, hop, operator_graph(patch), max_ol)


def check_f0(f0_hz: Tensor, name: str = "f0"):
    """Reject f0 that the synth cannot play: NaN, infinite, zero or negative."""
    if not torch.isfinite(f0_hz).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (f0_hz <= 0).any():
        raise ValueError(f"{name} must be positive (Hz); got min {float(f0_hz.min()):.3g}. "
                         "Give unvoiced frames the last voiced pitch instead of 0.")


def check_ratios(ratios, n_ops: int, name: str = "ratios"):
    """Reject frequency ratios the synth cannot use: not one per operator, NaN, infinite, zero or
    negative (a zero ratio freezes the operator's phase and renders silence)."""
    if ratios is None:
        return
    r = torch.as_tensor(ratios, dtype=torch.float64)
    if r.dim() == 0 or r.shape[-1] != n_ops:
        raise ValueError(f"{name}: the patch has {n_ops} operators, got {list(r.shape) or 1} values")
    if not bool(torch.isfinite(r).all()) or bool((r <= 0).any()):
        raise ValueError(f"{name} must be positive finite numbers (one frequency ratio per operator), "
                         f"got {r.flatten().tolist()}")


def check_env_gain(env_gain, n_ops: int, name: str = "env_gain"):
    """Reject envelope gains that are not one finite, non-negative number per operator."""
    if env_gain is None:
        return
    g = torch.as_tensor(env_gain, dtype=torch.float64)
    if g.dim() == 0 or g.shape[-1] != n_ops:
        raise ValueError(f"{name} needs one gain per operator ({n_ops}), got {list(g.shape) or 1} values")
    if not bool(torch.isfinite(g).all()) or bool((g < 0).any()):
        raise ValueError(f"{name} must be finite gains >= 0 (one per operator), got {g.flatten().tolist()}")


class FMSynth(nn.Module):
    """Differentiable FM synth with a fixed patch: decoder outputs z → envelopes → audio."""

    def __init__(self, patch: Patch | str = "2osc", imax=2.0, sample_rate: int = SAMPLE_RATE, hop: int = HOP,
                 oversample: int = 1, decimation: dict | None = None):
        """``oversample`` M > 1 renders at M · fs and low-passes before keeping every M-th sample, so that
        sidebands above Nyquist are removed instead of folding (:mod:`ddx7.synth.oversample`; a deviation);
        ``decimation`` sets that low-pass filter (check_decimation; the module's default when None)."""
        super().__init__()
        self.patch = get_patch(patch)
        self.imax = parse_imax(imax)
        self.max_ol = self.imax / TWO_PI
        self.sample_rate = sample_rate
        self.hop = hop
        self.oversample = check_oversample(oversample)
        self.decimation = check_decimation(decimation, self.oversample)
        if self.oversample > 1:
            self.register_buffer("decimation_kernel", decimation_kernel(self.oversample, self.decimation).float(),
                                 persistent=False)

    @property
    def n_ops(self) -> int:
        return self.patch.n_ops

    def get_controls(self, z: Tensor) -> Tensor:
        """Decoder outputs z [B, T, K] → envelopes a_k = max_ol · sigmoid(z_k)."""
        if z.shape[-1] != self.n_ops:
            raise ValueError(f"patch {self.patch.name!r} needs {self.n_ops} envelope channels, got {z.shape[-1]}")
        return fm_envelopes(z, constant(self.max_ol, z.dtype, z.device))

    def get_signal(self, f0_hz: Tensor, envelopes: Tensor, ratios=None, env_gain=None) -> Tensor:
        """Frame-rate f0 [B, T] and envelopes [B, T, K] → audio [B, T·hop].

        ``ratios`` replaces the patch's ratios and ``env_gain`` (K gains) scales each operator's
        envelope: the interventions of the paper's Table 2, without retraining.
        """
        check_f0(f0_hz)
        if envelopes.shape[:2] != f0_hz.shape:
            raise ValueError(f"f0 has {tuple(f0_hz.shape)} frames but envelopes have {tuple(envelopes.shape[:2])}")
        check_ratios(ratios, self.n_ops, f"ratios of patch {self.patch.name!r}")
        envelopes = apply_env_gain(envelopes, env_gain, self.n_ops)
        m = self.oversample
        f0_s = upsample_frames(f0_hz[..., None], self.hop * m, channels_first=True)[:, 0]
        audio = render_fm_frames(f0_s, envelopes, self.patch, self.max_ol, self.hop * m, ratios, self.sample_rate * m)
        return audio if m == 1 else decimate(audio, m, self.decimation_kernel)

    def forward(self, f0_hz, z, ratios=None, env_gain=None):
        return self.get_signal(f0_hz, self.get_controls(z), ratios, env_gain)


def apply_env_gain(envelopes: Tensor, env_gain, n_ops: int) -> Tensor:
    if env_gain is None:
        return envelopes
    check_env_gain(env_gain, n_ops)
    return envelopes * torch.as_tensor(env_gain, dtype=envelopes.dtype, device=envelopes.device)
