"""Interventions on a trained model without retraining (the paper's Table 2).

An intervention changes the patch's ratios and/or scales operator envelopes at render time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .patches import Patch, get_patch


@dataclass(frozen=True)
class Intervention:
    """What to change: ``ratios`` (all K, or None) and ``env_gain`` (K gains, or None)."""

    name: str
    ratios: list[float] | None = None
    env_gain: list[float] | None = None


def modulator_ratios(patch: Patch | str, old: float = 1.0, new: float = 3.0) -> list[float]:
    """The patch's ratios with every modulator whose ratio equals ``old`` set to ``new``."""
    patch = get_patch(patch)
    mods = set(patch.modulator_ops)
    return [new if (k in mods and math.isclose(r, old)) else r for k, r in enumerate(patch.ratios)]


def modulator_gains(patch: Patch | str, gain: float = 2.0) -> list[float]:
    """Envelope gains: ``gain`` on every modulator, 1 on carriers."""
    patch = get_patch(patch)
    mods = set(patch.modulator_ops)
    return [gain if k in mods else 1.0 for k in range(patch.n_ops)]


def paper_intervention(instrument: str, patch: Patch | str) -> Intervention:
    """The paper's intervention for an instrument, applied to ``patch``.

    violin: every modulator ratio equal to 1 → 3; flute: modulator envelopes × 2;
    trumpet: the modulator's ratio → √2 (defined for the 2-operator patch, where OP2 is the modulator).
    """
    patch = get_patch(patch)
    if instrument == "violin":
        return Intervention("modulator ratios 1 → 3", ratios=modulator_ratios(patch, 1.0, 3.0))
    if instrument == "flute":
        return Intervention("modulator envelopes × 2", env_gain=modulator_gains(patch, 2.0))
    if instrument == "trumpet":
        ratios = [math.sqrt(2) if k in set(patch.modulator_ops) else r for k, r in enumerate(patch.ratios)]
        return Intervention("modulator ratio → √2", ratios=ratios)
    raise ValueError(f"no paper intervention for instrument {instrument!r}; known: violin, flute, trumpet")
