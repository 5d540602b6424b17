"""Interactive views of a trained model on one test clip: the intervention panel and ipywidgets sliders."""

from __future__ import annotations

import ipywidgets as W
import torch
from IPython.display import Audio, display

from .. import SAMPLE_RATE
from ..web import panel_from_model
from .analyses import excerpt_controls
from .loaders import load_metrics_json


def intervention_panel_for(profile: str, run: str, index: int = 0):
    """The browser intervention panel (ddx7.web) on a run's index-th chosen test clip."""
    model, f0, ld, audio = excerpt_controls(profile, run, index)
    m = load_metrics_json(profile, run)
    title = f"{m['instrument']} · {run} · test excerpt {m['clips'][index]['excerpt']}"
    return panel_from_model(model, f0, ld, title=title, original_audio=audio)


def live_sliders(profile: str, run: str, index: int = 0):
    """ipywidgets sliders (one ratio and one envelope gain per operator) that re-render in a live kernel."""
    model, f0, ld, _ = excerpt_controls(profile, run, index)
    patch = model.patch
    ratios = [W.FloatSlider(value=r, min=0.25, max=16, step=0.01, description=f"ratio OP{k + 1}")
              for k, r in enumerate(patch.ratios)]
    gains = [W.FloatSlider(value=1.0, min=0, max=4, step=0.05, description=f"gain OP{k + 1}")
             for k in range(patch.n_ops)]
    out = W.Output()

    def render(_=None):
        with torch.no_grad():
            audio = model(torch.as_tensor(f0)[None], torch.as_tensor(ld)[None], ratios=[s.value for s in ratios],
                          env_gain=[s.value for s in gains])[0].numpy()
        out.clear_output(wait=True)
        with out:
            display(Audio(audio / max(1.0, abs(audio).max()), rate=SAMPLE_RATE))

    button = W.Button(description="render")
    button.on_click(render)
    return W.VBox([W.HBox([W.VBox(ratios), W.VBox(gains)]), button, out])
