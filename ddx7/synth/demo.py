"""Notes for hearing a patch without a trained model: hand-made controls (an attack, a swell, a
release and delayed vibrato; modulators brighter at the attack than in the sustain), and a note
with constant envelopes (``ddx7 render``)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import FRAME_RATE, SAMPLE_RATE
from .fm import FMSynth
from .patches import Patch, get_patch

MAX_RENDER_SECONDS = 600.0


def demo_controls(patch: Patch | str, f0: float = 220.0, seconds: float = 2.0, vibrato_cents: float = 25.0,
                  modulator_level: float = 0.8):
    """Frame-rate f0 [1, T] (Hz) and envelope levels [1, T, K] as fractions of max_ol (0..1)."""
    patch = get_patch(patch)
    t = np.arange(int(round(seconds * FRAME_RATE))) / FRAME_RATE
    attack = np.clip(t / 0.04, 0, 1)
    release = np.clip((seconds - t) / 0.25, 0, 1)
    body = attack * release * (0.8 + 0.2 * np.sin(np.pi * t / seconds))
    vib_depth = vibrato_cents * np.clip((t - 0.3) / 0.4, 0, 1)
    f0_t = f0 * 2 ** (vib_depth * np.sin(2 * np.pi * 5.5 * t) / 1200)
    levels = np.zeros((len(t), patch.n_ops))
    depth = _depth(patch)
    for k in range(patch.n_ops):
        if k in patch.carriers:
            levels[:, k] = body
        else:  # deeper modulators quieter; brightness decays from the attack to 60 %
            bright = 0.6 + 0.4 * np.exp(-t / 0.15)
            levels[:, k] = modulator_level * bright * attack * release / depth[k]
    return torch.tensor(f0_t, dtype=torch.float32)[None], torch.tensor(levels, dtype=torch.float32)[None]


def _depth(patch: Patch) -> dict[int, int]:
    """1 for operators that modulate a carrier, 2 for the next level up, ...; 1 for carriers."""
    depth = {c: 1 for c in patch.carriers}
    for op in reversed(patch.order):
        for s in patch.modulators.get(op, []):
            depth[s] = depth.get(op, 1) + (0 if op in patch.carriers else 1)
    return {k: depth.get(k, 1) for k in range(patch.n_ops)}


def render_note(patch: Patch | str, f0: float, seconds: float, imax, levels, ratios=None,
                sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A note with constant envelopes: operator k at levels[k] · max_ol (one level per operator;
    ``ratios`` replace the patch's). Returns float32 audio [round(seconds · sample_rate)]."""
    p = get_patch(patch)
    if len(levels) != p.n_ops:
        raise ValueError(f"patch {p.name!r} has {p.n_ops} operators: give {p.n_ops} levels, got {len(levels)}")
    if any(lv < 0 for lv in levels):
        raise ValueError(f"levels must be >= 0, got {levels}")
    if not (math.isfinite(f0) and 0 < f0 < sample_rate / 2):
        raise ValueError(f"f0 must be between 0 and {sample_rate / 2:g} Hz, got {f0}")
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_RENDER_SECONDS):
        raise ValueError(f"--seconds must be between 0 and {MAX_RENDER_SECONDS:g}, got {seconds:g}")
    synth = FMSynth(p, imax, sample_rate)
    frames = max(1, round(seconds * sample_rate / synth.hop))
    f0_frames = torch.full((1, frames), float(f0))
    env = torch.tensor(levels, dtype=torch.float32).expand(1, frames, -1) * synth.max_ol
    with torch.no_grad():
        audio = synth.get_signal(f0_frames, env, ratios=ratios)[0]
    return audio.numpy()[: int(round(seconds * sample_rate))]
