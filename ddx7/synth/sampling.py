"""From frames to samples, for the synths (FM and harmonic) and the streaming renderers: the controls'
causal linear upsampling and the oscillators' phases, φ_k[n] = r_k · Σ_{m≤n} 2π f0[m] / fs, accumulated in
float64 and wrapped to [0, 2π) before the sine, so that long excerpts and block-wise streaming give the same
samples; the phase carries no gradient (f0 and ratios are not learned).

One home for these formulas: ddx7/stream.py continues them block by block (``upsample_frames``, and
``phase_sum``/``wrap_phase`` through :class:`RunningPhase`), so these are TorchScript-compatible (annotated,
no Python-only constructs), and they take their constants as 0-dim tensors of the operand's dtype
(:func:`constant`): a Python number costs ~1 µs more per operation in eager PyTorch (it is wrapped into a
tensor each time), several % of a one-frame streaming block; the samples are the same bits either way.
JavaScript copies: ddx7/web/fm_panel.js (``upsampleF0``, ``baseOmega``) and ddx7/web/ddx7_model.js, checked by
tests/test_web_panel.py and tests/test_web_live.py.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import HOP, SAMPLE_RATE

TWO_PI = 2 * math.pi
# A stream folds its running phase mod 2π every REBASE_SAMPLES samples (about 4.4 minutes): until
# then its phases equal the offline ones bit for bit, and float64 ω stays below π · 2^22 ≈ 1.3e7 rad.
REBASE_SAMPLES = 1 << 22
# float64 values per block of rows in operator_phases: 512 KiB, which stays in a core's L2 cache on our machines
PHASE_BLOCK = 1 << 16


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
    # the frame-rate term added in place to the full-size product: the same bits as before + (x − before) · ramp
    # with one full-size tensor instead of two (the add's broadcast over hop is the slower pass)
    if channels_first:
        # [B, C, T], [B, C, 1], made contiguous at frame rate: the samples come out in [B, C, T, hop] order,
        # so the reshape below is a view (from the transposed frames, elementwise ops keep [B, T, hop, C])
        x, previous = frames.transpose(1, 2).contiguous(), previous.transpose(1, 2)
        before = previous if t == 1 else torch.cat([previous, x[:, :, :-1]], dim=2)
        out = ((x - before).unsqueeze(3) * ramp).add_(before.unsqueeze(3))  # [B, C, T, hop]
        return out.reshape(b, c, t * hop)
    before = previous if t == 1 else torch.cat([previous, frames[:, :-1]], dim=1)
    out = ((frames - before).unsqueeze(2) * ramp.unsqueeze(1)).add_(before.unsqueeze(2))  # [B, T, hop, C]
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

    As x − 2π · ⌊x · (1/2π)⌋, not ``fmod`` or ``remainder``: those are exact but ~1.5–2× slower on CPU (glibc's
    fmod divides bit by bit). The result is within a few float64 ulps of x of the exact remainder — as close as
    x = r · ω itself is to exact: ≤ 1e-8 rad at the 5e7 rad that a 2 kHz, ratio-14 operator reaches before a
    stream's rebase, 50× below a float32 phase's resolution (4.8e-7 rad); where x / 2π rounds across an
    integer the result is that close to 0 or 2π, which sin and cos take alike."""
    phase = omega * ratios
    if offset is not None:
        phase = phase + offset
    turns = torch.mul(phase, 1 / two_pi).floor_()  # × 1/2π: a float64 division is ~3× slower
    return phase.sub_(turns.mul_(two_pi))


def operator_phases(f0_samples: Tensor, ratios, sample_rate: int = SAMPLE_RATE,
                    initial: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
    """Per-operator phases φ_k[n] = φ_k[−1] + r_k Σ 2π f0/fs, wrapped to [0, 2π).

    f0_samples [B, N] in Hz; ratios: K floats or a tensor [K] / [B, K]. Returns (one float32 [B, N]
    phase per operator, last phase float64 [B, K]) — the second is the state to carry to the next
    block; operators at the same ratio and initial phase get the same tensor. A few rows at a time
    (:data:`PHASE_BLOCK` float64 values), every operator of those rows before the next: the float64
    temporaries stay in a core's cache instead of streaming a training batch's [B, N] through memory
    at every pass (the sums along each row are those of the whole batch, bit for bit).
    """
    with torch.no_grad():
        f64, device = torch.float64, f0_samples.device
        batch, n = f0_samples.shape
        r = torch.as_tensor(ratios, dtype=f64, device=device)
        r = r.expand(batch, -1) if r.dim() == 1 else r
        omega_scale, two_pi = constant(TWO_PI / sample_rate, f64, device), constant(TWO_PI, f64, device)
        # operators at the same ratio (and offset) share one phase: computed once (most patches repeat ratio 1)
        source = []
        for k in range(r.shape[1]):
            source.append(next((j for j in range(k) if torch.equal(r[:, j], r[:, k]) and
                                (initial is None or torch.equal(initial[:, j], initial[:, k]))), k))
        own = [k for k in range(r.shape[1]) if source[k] == k]
        phases = {k: torch.empty(batch, n, dtype=torch.float32, device=device) for k in own}
        last = torch.empty(batch, r.shape[1], dtype=f64, device=device)
        rows = max(1, PHASE_BLOCK // max(n, 1))
        for r0 in range(0, batch, rows):
            r1 = min(r0 + rows, batch)
            omega = phase_sum(f0_samples[r0:r1].detach(), omega_scale)
            for k in own:
                offset = None if initial is None else initial[r0:r1, k:k + 1].to(omega)
                wrapped = wrap_phase(omega, r[r0:r1, k:k + 1], two_pi, offset)
                phases[k][r0:r1] = wrapped
                last[r0:r1, k] = wrapped[:, -1]
        last = last[:, source]
    return [phases[j] for j in source], last


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
    def advance(self, f0_samples: Tensor, channels_first: bool = False) -> Tensor:
        """f0 [B, N] (Hz) → every operator's phase at these samples, float32 [B, N, K], or [B, K, N] with
        ``channels_first`` (each operator's samples contiguous; the same values)."""
        omega = phase_sum(f0_samples, self.omega_scale, self.omega_end)
        self.omega_end = omega.select(1, -1)
        offset: Tensor | None = None
        if channels_first:
            if self.use_offset:
                offset = self.offset.unsqueeze(2)
            phases = wrap_phase(omega.unsqueeze(1), self.ratios.unsqueeze(1), self.two_pi, offset).float()
        else:
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
