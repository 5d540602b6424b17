"""Kernel-free web views for the book: an FM intervention panel whose synth runs in the browser."""

from .panel import InterventionPanel, intervention_panel, panel_assets, panel_from_model, paper_presets

__all__ = ["InterventionPanel", "intervention_panel", "panel_from_model", "paper_presets", "panel_assets"]
