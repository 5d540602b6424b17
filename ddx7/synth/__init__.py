"""Synthesizers: FM (patches as data) and harmonic-plus-noise."""

from .fm import FMSynth, check_f0, render_fm
from .harmonic import harmonic_amplitudes, render_hpn
from .interventions import Intervention, modulator_gains, modulator_ratios, paper_intervention
from .patches import PATCHES, Patch, get_patch, parse_imax
from .sampling import accumulate_phase, upsample_frames

__all__ = [
    "FMSynth", "render_fm", "upsample_frames", "accumulate_phase", "check_f0", "render_hpn",
    "harmonic_amplitudes", "Patch", "PATCHES", "get_patch", "parse_imax", "Intervention",
    "modulator_ratios", "modulator_gains", "paper_intervention",
]
