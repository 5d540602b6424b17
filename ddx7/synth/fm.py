"""Differentiable FM synthesis (no feedback), DX7-style operators driven by envelopes.

Operator k:   y_k[n] = a_k[n] · sin(φ_k[n] + 2π · Σ_{j → k} y_j[n]),   φ_k[n] = r_k · Σ_{m≤n} 2π f0[m] / fs
Output:       x[n]   = Σ_{c ∈ carriers} y_c[n] / max_ol,               Imax = 2π · max_ol

Envelopes are a_k = max_ol · sigmoid(z_k). Phases are accumulated in float64 per operator and
wrapped to [0, 2π) before the sine, so that long excerpts and block-wise streaming give the same
samples; the phase carries no gradient (f0 and ratios are not learned).

JavaScript copies (ddx7/web/fm_panel.js for the interventions panel, ddx7/web/ddx7_model.js for the live
page) are compared with these functions by tests/test_web_panel.py and tests/test_web_live.py.

One home for these formulas: the streaming renderers (ddx7/stream.py: StreamingDDX7, compiled
with TorchScript, and StreamingHpN) call the functions below — ``upsample_frames``,
``phase_sum``/``wrap_phase`` through :class:`RunningPhase`, ``fm_operators``, ``mix_carriers``,
``fm_envelopes`` — so these are TorchScript-compatible (annotated, no Python-only constructs),
and they take their constants as 0-dim tensors of the operand's dtype (:func:`constant`): a
Python number costs ~1 µs more per operation in eager PyTorch (it is wrapped into a tensor each
time), several % of a one-frame streaming block; the samples are the same bits either way.
One copy remains, in JavaScript: ddx7/web/fm_panel.js (``upsampleF0``, ``baseOmega``,
``renderFM``) renders the kernel-free panel; tests/test_web_panel.py checks it against
``FMSynth.get_signal`` for every patch. Change the equations here and there together.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .. import HOP, SAMPLE_RATE
from .oversample import check_decimation, check_oversample, decimate, decimation_kernel
from .patches import Patch, get_patch, parse_imax

TWO_PI = 2 * math.pi
# A stream folds its running phase mod 2π every REBASE_SAMPLES samples (about 4.4 minutes): until
# then its phases equal the offline ones bit for bit, and float64 ω stays below π · 2^22 ≈ 1.3e7 rad.
REBASE_SAMPLES = 1 << 22


def constant(value: float, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> Tensor:
    """A 0-dim tensor: how the functions below take their constants (see the module doc)."""
    return torch.tensor(value, dtype=dtype, device=device)


def frame_ramp(hop: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> Tensor:
    """The interpolation weights (j + 1) / hop, j = 0 … hop − 1: [hop]."""
    return torch.arange(1, hop + 1, dtype=dtype, device=device) / hop


def upsample_frames(frames: Tensor, hop: int = HOP, previous: Tensor | None = None,
                    ramp: Tensor | None = None, channels_first: bool = False) -> Tensor:
    """Causal linear interpolation from frame rate to sample rate.

    frames [B, T, C] → [B, T·hop, C], or [B, C, T·hop] with ``channels_first`` (each channel's
    samples contiguous: what the synths read, ~2× faster downstream than strided channels). Inside
    frame i the value ramps from frame i−1 to frame i: x[i·hop + j] = x_{i−1} + (x_i − x_{i−1}) ·
    (j + 1) / hop, so sample i·hop + hop − 1 equals frame i exactly (the same bits in either
    layout). ``previous`` [B, 1, C] is frame −1 (the last frame of the previous block when
    streaming); by default the first frame is held. ``ramp``: :func:`frame_ramp` of the frames'
    dtype, if a stream has it at hand.
    """
    if frames.dim() != 3:
        raise ValueError(f"expected frames shaped [batch, frames, channels], got {list(frames.shape)}")
    b, t, c = frames.shape
    if previous is None:
        previous = frames[:, :1]
    previous = previous.to(frames)
    if ramp is None:
        ramp = frame_ramp(hop, frames.dtype, frames.device)
    if channels_first:
        x, previous = frames.transpose(1, 2), previous.transpose(1, 2)  # [B, C, T], [B, C, 1]
        before = previous if t == 1 else torch.cat([previous, x[:, :, :-1]], dim=2)
        out = before.unsqueeze(3) + (x - before).unsqueeze(3) * ramp  # [B, C, T, hop]
        return out.reshape(b, c, t * hop)
    before = previous if t == 1 else torch.cat([previous, frames[:, :-1]], dim=1)
    out = before.unsqueeze(2) + (frames - before).unsqueeze(2) * ramp.unsqueeze(1)  # [B, T, hop, C]
    return out.reshape(b, t * hop, c)


def phase_sum(f0_samples: Tensor, omega_scale: Tensor, running: Tensor | None = None) -> Tensor:
    """ω[n] = Σ_{m≤n} 2π f0[m] / fs in float64: f0 [B, N] (Hz), ``omega_scale`` = 2π / fs (float64) → [B, N].

    ``running`` [B], the last ω of the previous block, continues a stream: it is added to the first
    increment, which is what the sequential cumsum over the whole excerpt does, so the blocks give
    the one-pass sums bit for bit (a deep stack at Imax 4π magnifies a 1-ulp phase error ~10^3×).
    """
    steps = f0_samples.double() * omega_scale
    if running is not None:
        steps.select(1, 0).add_(running)
    return torch.cumsum(steps, dim=1)


def wrap_phase(omega: Tensor, ratios: Tensor, two_pi: Tensor, offset: Tensor | None = None) -> Tensor:
    """Operator phases (r · ω + offset) mod 2π in [0, 2π), float64 (``two_pi`` too); the shapes
    broadcast, e.g. ω [B, N, 1], ratios [K] or [B, 1, K], offset [B, 1, K] → [B, N, K].

    ``fmod``, not ``remainder``: for the non-negative phases of positive f0 and ratios (what check_f0 and
    check_ratios let through) the two are equal bit for bit, and fmod is ~2× faster on CPU (a negative
    phase would come out in (−2π, 0], which sin and cos take alike)."""
    phase = omega * ratios
    if offset is not None:
        phase = phase + offset
    return torch.fmod(phase, two_pi)


def operator_phases(f0_samples: Tensor, ratios, sample_rate: int = SAMPLE_RATE,
                    initial: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
    """Per-operator phases φ_k[n] = φ_k[−1] + r_k Σ 2π f0/fs, wrapped to [0, 2π).

    f0_samples [B, N] in Hz; ratios: K floats or a tensor [K] / [B, K]. Returns (one float32 [B, N]
    phase per operator, last phase float64 [B, K]) — the second is the state to carry to the next
    block; operators at the same ratio and initial phase get the same tensor. One operator at a time:
    each float64 temporary stays at [B, N] (a [B, N, K] one of a training batch is tens of MB, which
    malloc maps fresh and the kernel zero-fills on every call).
    """
    with torch.no_grad():
        f64, device = torch.float64, f0_samples.device
        omega = phase_sum(f0_samples.detach(), constant(TWO_PI / sample_rate, f64, device))
        r = torch.as_tensor(ratios, dtype=f64, device=device)
        r = r.expand(f0_samples.shape[0], -1) if r.dim() == 1 else r
        two_pi = constant(TWO_PI, f64, device)
        phases, last = [], []
        for k in range(r.shape[1]):
            # operators at the same ratio (and offset) share one phase: computed once (most patches repeat ratio 1)
            same = next((j for j in range(k) if torch.equal(r[:, j], r[:, k]) and
                         (initial is None or torch.equal(initial[:, j], initial[:, k]))), None)
            if same is not None:
                phases.append(phases[same])
                last.append(last[same])
                continue
            offset = None if initial is None else initial[:, k:k + 1].to(omega)
            phase = wrap_phase(omega, r[:, k:k + 1], two_pi, offset)
            phases.append(phase.float())
            last.append(phase[:, -1])
    return phases, torch.stack(last, 1)


def accumulate_phase(f0_samples: Tensor, ratios, sample_rate: int = SAMPLE_RATE,
                     initial: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """:func:`operator_phases` as one tensor: (phases float32 [B, N, K], last phase float64 [B, K])."""
    phases, last = operator_phases(f0_samples, ratios, sample_rate, initial)
    return torch.stack(phases, -1), last


class RunningPhase(nn.Module):
    """The operator phases of a stream, block after block (TorchScript-compatible).

    ``advance(f0 [B, N])`` → phases float32 [B, N, K]: ω is continued by :func:`phase_sum`, so they
    equal :func:`accumulate_phase` of the whole excerpt bit for bit, until ω is folded mod 2π into a
    per-operator offset (``rebase``): every ``rebase_samples`` samples (float64 ω stays small) and
    when the ratios change (each operator keeps its phase: no click). ``reset(batch)`` starts over.
    """

    def __init__(self, ratios, sample_rate: int = SAMPLE_RATE, rebase_samples: int = REBASE_SAMPLES):
        super().__init__()
        self.rebase_samples = int(rebase_samples)
        ratios = torch.as_tensor(ratios, dtype=torch.float64).flatten().clone()
        self.register_buffer("ratios", ratios)
        self.register_buffer("omega_scale", constant(TWO_PI / sample_rate, torch.float64))
        self.register_buffer("two_pi", constant(TWO_PI, torch.float64))
        # phase_k = (r_k · ω + offset_k) mod 2π, ω = Σ 2π f0 / fs since the last rebase
        self.register_buffer("omega_end", torch.zeros(1, dtype=torch.float64), persistent=False)
        self.register_buffer("offset", torch.zeros(1, len(ratios), dtype=torch.float64), persistent=False)
        self.use_offset = False
        self.samples_since_rebase = 0

    @torch.jit.export
    def reset(self, batch: int):
        self.omega_end = torch.zeros(batch, dtype=torch.float64, device=self.ratios.device)
        self.offset = torch.zeros(batch, self.ratios.shape[0], dtype=torch.float64, device=self.ratios.device)
        self.use_offset = False
        self.samples_since_rebase = 0

    @torch.jit.export
    def advance(self, f0_samples: Tensor) -> Tensor:
        """f0 [B, N] (Hz) → every operator's phase at these samples, float32 [B, N, K]."""
        omega = phase_sum(f0_samples, self.omega_scale, self.omega_end)
        self.omega_end = omega.select(1, -1)
        offset: Tensor | None = None
        if self.use_offset:
            offset = self.offset.unsqueeze(1)
        phases = wrap_phase(omega.unsqueeze(2), self.ratios, self.two_pi, offset).float()
        self.samples_since_rebase += f0_samples.shape[1]
        if self.samples_since_rebase >= self.rebase_samples:
            self.rebase()
        return phases

    @torch.jit.export
    def phases(self) -> Tensor:
        """Each operator's phase after the last sample, in [0, 2π): [B, K] float64."""
        return wrap_phase(self.omega_end.unsqueeze(1), self.ratios, self.two_pi, self.offset)

    @torch.jit.export
    def rebase(self):
        """Fold ω into the offsets (exact mod 2π; keeps float64 ω small)."""
        self.offset = self.phases()
        self.omega_end = torch.zeros_like(self.omega_end)
        self.use_offset = True
        self.samples_since_rebase = 0

    def set_ratios(self, ratios):
        """New ratios (K values) from the next sample on; mid-stream each operator keeps its phase."""
        if self.samples_since_rebase > 0 or self.use_offset:  # the stream has begun
            self.rebase()
        self.ratios.copy_(torch.as_tensor(ratios, dtype=torch.float64).flatten())


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


def mix_carriers(outs: list[Tensor], carriers: list[int], max_ol: Tensor) -> Tensor:
    """The audio x = Σ_carriers y_c / max_ol from the operator outputs [B, N] (max_ol in their dtype)."""
    audio = outs[carriers[0]]
    for c in carriers[1:]:
        audio = audio + outs[c]
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
    functions (the forward below is their loop, ops and order), with a hand-written backward: each operator's
    sine (and, where it is modulated, cosine) is computed once, in the forward, and the envelopes' gradient goes
    back to the frames through one small product per operator (Σ_j g[t·hop + j] · [ramp_j, 1 − ramp_j]) instead
    of autograd's [B, K, T, hop] broadcast and its stack of K gradients."""

    @staticmethod
    def forward(ctx, envelopes, phases, hop, graph, max_ol):
        order, modulators, carriers = graph
        env_s = upsample_frames(envelopes, hop, channels_first=True)  # [B, K, N]
        channels = env_s.unbind(1)
        two_pi = constant(TWO_PI, env_s.dtype, env_s.device)
        outs, sines, cosines = list(channels), [None] * len(channels), [None] * len(channels)
        for k in order:  # fm_operators
            arg = phases[k]
            for j in modulators[k]:
                arg = arg + two_pi * outs[j]
            sines[k] = torch.sin(arg)
            outs[k] = channels[k] * sines[k]
            if modulators[k] and ctx.needs_input_grad[0]:
                cosines[k] = torch.cos(arg)
        ctx.graph, ctx.hop, ctx.max_ol = graph, hop, max_ol
        ctx.save_for_backward(env_s, *sines, *[c for c in cosines if c is not None])
        return mix_carriers(outs, carriers, constant(max_ol, env_s.dtype, env_s.device))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_audio):
        order, modulators, carriers = ctx.graph
        env_s, *saved = ctx.saved_tensors
        n_ops, hop = env_s.shape[1], ctx.hop
        sines, cosines = saved[:n_ops], iter(saved[n_ops:])
        b, n = grad_audio.shape
        frames = n // hop
        ramp = frame_ramp(hop, env_s.dtype, env_s.device)
        weights = torch.stack([ramp, 1 - ramp], 1)  # [hop, 2]: ∂env_s/∂(this frame), ∂/∂(the frame before)
        grad_out: list[Tensor | None] = [None] * n_ops
        for c in carriers:
            grad_out[c] = grad_audio / ctx.max_ol
        grad_env = grad_audio.new_zeros(b, frames, n_ops)
        cos_of = {k: next(cosines) for k in range(n_ops) if modulators[k]}  # saved in index order
        for k in reversed(order):
            g = grad_out[k]
            if g is None:
                continue
            per_frame = (g * sines[k]).view(b, frames, hop) @ weights  # [B, T, 2]
            grad_env[:, :, k] = per_frame[..., 0]
            grad_env[:, :-1, k] += per_frame[:, 1:, 1]
            grad_env[:, 0, k] += per_frame[:, 0, 1]  # frame −1 is frame 0 held
            if modulators[k]:
                grad_arg = (g * env_s[:, k]).mul_(cos_of[k]).mul_(TWO_PI)
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
