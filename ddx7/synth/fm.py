"""Differentiable FM synthesis (no feedback), DX7-style operators driven by envelopes.

Operator k:   y_k[n] = a_k[n] · sin(φ_k[n] + 2π · Σ_{j → k} y_j[n]),   φ_k[n] = r_k · Σ_{m≤n} 2π f0[m] / fs
Output:       x[n]   = Σ_{c ∈ carriers} y_c[n] / max_ol,               Imax = 2π · max_ol

Envelopes are a_k = max_ol · sigmoid(z_k). Phases are accumulated in float64 per operator and
wrapped to [0, 2π) before the sine, so that long excerpts and block-wise streaming give the same
samples; the phase carries no gradient (f0 and ratios are not learned).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import HOP, SAMPLE_RATE
from .patches import Patch, get_patch, parse_imax

TWO_PI = 2 * math.pi


def upsample_frames(frames: torch.Tensor, hop: int = HOP, previous: torch.Tensor | None = None) -> torch.Tensor:
    """Causal linear interpolation from frame rate to sample rate.

    frames [B, T, C] → [B, T·hop, C]. Inside frame i the value ramps from frame i−1 to frame i:
    x[i·hop + j] = x_{i−1} + (x_i − x_{i−1}) · (j + 1) / hop, so sample i·hop + hop − 1 equals
    frame i exactly. ``previous`` [B, 1, C] is frame −1 (the last frame of the previous block when
    streaming); by default the first frame is held.
    """
    if frames.dim() != 3:
        raise ValueError(f"expected frames shaped [batch, frames, channels], got {tuple(frames.shape)}")
    b, t, c = frames.shape
    if previous is None:
        previous = frames[:, :1]
    before = torch.cat([previous.to(frames), frames[:, :-1]], dim=1)
    ramp = torch.arange(1, hop + 1, dtype=frames.dtype, device=frames.device) / hop
    out = before[:, :, None, :] + (frames - before)[:, :, None, :] * ramp[None, None, :, None]
    return out.reshape(b, t * hop, c)


def accumulate_phase(f0_samples: torch.Tensor, ratios, sample_rate: int = SAMPLE_RATE,
                     initial: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-operator phases φ_k[n] = φ_k[−1] + r_k Σ 2π f0/fs, wrapped to [0, 2π).

    f0_samples [B, N] in Hz; ratios: K floats or a tensor [K] / [B, K]. Returns (phases float32
    [B, N, K], last phase float64 [B, K]) — the second is the state to carry to the next block.
    """
    with torch.no_grad():
        omega = torch.cumsum(f0_samples.detach().double() * (TWO_PI / sample_rate), dim=1)
        r = torch.as_tensor(ratios, dtype=torch.float64, device=f0_samples.device)
        r = r.expand(f0_samples.shape[0], -1) if r.dim() == 1 else r
        phase = omega[:, :, None] * r[:, None, :]
        if initial is not None:
            phase = phase + initial.to(phase)[:, None, :]
        phase = torch.remainder(phase, TWO_PI)
    return phase.float(), phase[:, -1]


def fm_operators(phases: torch.Tensor, envelopes: torch.Tensor, patch: Patch) -> list[torch.Tensor]:
    """Evaluate every operator top-down through the patch graph; returns y_k [B, N] per operator."""
    outs: list[torch.Tensor | None] = [None] * patch.n_ops
    for k in patch.order:
        arg = phases[..., k]
        for j in patch.modulators.get(k, []):
            arg = arg + TWO_PI * outs[j]
        outs[k] = envelopes[..., k] * torch.sin(arg)
    return outs


def render_fm(f0_samples: torch.Tensor, envelopes: torch.Tensor, patch: Patch | str, max_ol: float,
              ratios=None, sample_rate: int = SAMPLE_RATE, initial_phase: torch.Tensor | None = None,
              return_phase: bool = False):
    """FM audio [B, N] from sample-rate f0 [B, N] (Hz) and envelopes [B, N, K] (amplitudes a_k)."""
    patch = get_patch(patch)
    if envelopes.shape[-1] != patch.n_ops:
        raise ValueError(f"patch {patch.name!r} has {patch.n_ops} operators, got {envelopes.shape[-1]} envelopes")
    if envelopes.shape[:2] != f0_samples.shape:
        raise ValueError(f"f0 {tuple(f0_samples.shape)} and envelopes {tuple(envelopes.shape)} differ in length")
    ratios = patch.ratios if ratios is None else ratios
    phases, last = accumulate_phase(f0_samples, ratios, sample_rate, initial_phase)
    outs = fm_operators(phases, envelopes, patch)
    audio = sum(outs[c] for c in patch.carriers) / max_ol
    return (audio, last) if return_phase else audio


def check_f0(f0_hz: torch.Tensor, name: str = "f0"):
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

    def __init__(self, patch: Patch | str = "2osc", imax=2.0, sample_rate: int = SAMPLE_RATE, hop: int = HOP):
        super().__init__()
        self.patch = get_patch(patch)
        self.imax = parse_imax(imax)
        self.max_ol = self.imax / TWO_PI
        self.sample_rate = sample_rate
        self.hop = hop

    @property
    def n_ops(self) -> int:
        return self.patch.n_ops

    def get_controls(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder outputs z [B, T, K] → envelopes a_k = max_ol · sigmoid(z_k)."""
        if z.shape[-1] != self.n_ops:
            raise ValueError(f"patch {self.patch.name!r} needs {self.n_ops} envelope channels, got {z.shape[-1]}")
        return self.max_ol * torch.sigmoid(z)

    def get_signal(self, f0_hz: torch.Tensor, envelopes: torch.Tensor, ratios=None, env_gain=None) -> torch.Tensor:
        """Frame-rate f0 [B, T] and envelopes [B, T, K] → audio [B, T·hop].

        ``ratios`` replaces the patch's ratios and ``env_gain`` (K gains) scales each operator's
        envelope: the interventions of the paper's Table 2, without retraining.
        """
        check_f0(f0_hz)
        if envelopes.shape[:2] != f0_hz.shape:
            raise ValueError(f"f0 has {tuple(f0_hz.shape)} frames but envelopes have {tuple(envelopes.shape[:2])}")
        check_ratios(ratios, self.n_ops, f"ratios of patch {self.patch.name!r}")
        envelopes = apply_env_gain(envelopes, env_gain, self.n_ops)
        f0_s = upsample_frames(f0_hz[..., None], self.hop)[..., 0]
        env_s = upsample_frames(envelopes, self.hop)
        return render_fm(f0_s, env_s, self.patch, self.max_ol, ratios, self.sample_rate)

    def forward(self, f0_hz, z, ratios=None, env_gain=None):
        return self.get_signal(f0_hz, self.get_controls(z), ratios, env_gain)


def apply_env_gain(envelopes: torch.Tensor, env_gain, n_ops: int) -> torch.Tensor:
    if env_gain is None:
        return envelopes
    check_env_gain(env_gain, n_ops)
    return envelopes * torch.as_tensor(env_gain, dtype=envelopes.dtype, device=envelopes.device)
