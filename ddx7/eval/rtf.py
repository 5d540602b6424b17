"""Real-time factor, the paper's procedure (Table 5).

For each latency L, an excerpt of L ms (L / 4 frames) is rendered by the whole model from its
controls, ``repeats`` times after a warm-up; rt = compute time / L. Mean and std over the repeats.
Weights do not change the compute, so untrained models of the paper's sizes are used.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import HOP, SAMPLE_RATE
from ..paper import paper_rtf

LATENCIES_MS = (256, 128, 64, 32, 16, 8, 4)


def frames_for(latency_ms: float) -> int:
    frames = latency_ms * SAMPLE_RATE / 1000 / HOP
    if frames < 1 or frames != int(frames):
        raise ValueError(f"latency {latency_ms} ms is not a whole number of {1000 * HOP / SAMPLE_RATE:g} ms frames")
    return int(frames)


@torch.no_grad()
def time_renders(model, latency_ms: float, repeats: int = 100, warmup: int = 10) -> np.ndarray:
    """Real-time factors of ``repeats`` whole-model renders of a ``latency_ms`` excerpt."""
    frames = frames_for(latency_ms)
    f0 = torch.full((1, frames), 220.0)
    loudness = torch.full((1, frames), -30.0)
    for _ in range(warmup):
        model(f0, loudness)
    times = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        model(f0, loudness)
        times[i] = time.perf_counter() - t0
    return times / (latency_ms / 1000)


def paper_procedure(models: dict, latencies=LATENCIES_MS, repeats: int = 100, threads: int = 1, progress=True):
    """Rows of (model, latency, mean, std) measured side by side for every model at every latency."""
    from tqdm.auto import tqdm

    torch.set_num_threads(threads)
    rows = []
    for latency in tqdm(latencies, desc="rtf (paper procedure)", disable=not progress):
        for name, model in models.items():
            rt = time_renders(model.eval(), latency, repeats)
            rows.append({"latency_ms": latency, "model": name, "rtf_mean": float(rt.mean()), "rtf_std": float(rt.std()),
                         "repeats": repeats})
    return rows


def paper_table(rows) -> "pd.DataFrame":  # noqa: F821
    """Ours beside the paper's: one row per latency."""
    import pandas as pd

    df = pd.DataFrame(rows).pivot(index="latency_ms", columns="model", values=["rtf_mean", "rtf_std"])
    out = pd.DataFrame(index=df.index)
    for m in ("ddx7", "hpn"):
        out[f"{m}_mean"] = df["rtf_mean"][m]
        out[f"{m}_std"] = df["rtf_std"][m]
    out["hpn_over_ddx7"] = out["hpn_mean"] / out["ddx7_mean"]
    paper = paper_rtf()  # latency → (DDX7 mean, std, HpN mean, std)
    out["paper_ddx7"] = [paper[ms][0] for ms in out.index]
    out["paper_hpn"] = [paper[ms][2] for ms in out.index]
    out["paper_hpn_over_ddx7"] = out["paper_hpn"] / out["paper_ddx7"]
    return out.sort_index(ascending=False).reset_index()
