"""Training batches: random crops of a split, and optional noise on the decoder's loudness input.

``ddx7.train`` draws every batch here, from its own seeded generator (a resumed run replays the same ones).
"""

from __future__ import annotations

import torch

from .. import HOP
from .features import RANGE_DB


def sample_batch(split, batch: int, frames: int, generator: torch.Generator):
    """Random excerpts of ``frames`` frames (and their audio) from random items of ``split`` (``ddx7.train.Split``:
    f0_hz and loudness_db [N, T], audio [N, T·hop]) → f0 [B, frames], loudness [B, frames], audio [B, frames·hop]."""
    n, t = split.f0_hz.shape
    frames = min(frames, t)
    idx = torch.randint(n, (batch,), generator=generator)
    start = torch.randint(t - frames + 1, (batch,), generator=generator)
    fr = start[:, None] + torch.arange(frames)
    smp = start[:, None] * HOP + torch.arange(frames * HOP)
    return split.f0_hz[idx[:, None], fr], split.loudness_db[idx[:, None], fr], split.audio[idx[:, None], smp]


def loudness_noise(loudness_db: torch.Tensor, std_db: float | None, generator: torch.Generator) -> torch.Tensor:
    """``loudness_db`` + N(0, std_db²) per frame, floored at the features' −80 dB (``train.loudness_noise_db``).

    Only the decoder reads loudness (the synth renders at f0), so the target audio stays right: the noise asks the
    decoder for envelopes that do not follow wiggles of its input that the audio does not have. With ``std_db``
    None or 0 the input is returned as is and the generator is not drawn from (runs without the option replay the
    same batches)."""
    if not std_db:
        return loudness_db
    if std_db < 0:
        raise ValueError(f"train.loudness_noise_db must be ≥ 0 dB, got {std_db}")
    noise = torch.randn(loudness_db.shape, generator=generator, dtype=loudness_db.dtype)
    return (loudness_db + std_db * noise).clamp_min(-RANGE_DB)
