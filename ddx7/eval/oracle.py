"""How far a trained DDX7 could go with better envelopes: the free-envelope fit (an "oracle decoder").

The decoder maps (f0, loudness) to the operators' envelopes. Here the envelopes are free instead: starting from
the decoder's own logits z on test excerpts, z is optimised directly (Adam, the training loss) while the model's
synth and learned reverb stay as trained. z has one control point per ``pool`` frames, linearly interpolated, so
that the fit shapes notes (20 ms at pool 5) rather than making noise from frame-to-frame flicker. The result is
what any decoder could reach with this patch and this reverb on these excerpts, up to the optimiser's local
minima: if it matches HpN where the trained decoder does not, the decoder or its training is the limit, not the
synth. ``dry=True`` leaves the reverb out: what the patch makes by itself.

``ddx7 eval-oracle`` → ``results/<profile>/oracle/oracle.csv`` and ``oracle.json`` (with provenance).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..atomic import write_csv, write_json
from ..checkpoints import load_model
from ..data import load_split
from ..losses import MultiScaleSpectralLoss
from ..provenance import provenance
from ..resynth import find_checkpoint
from .evaluate import chosen_indices, mean_mss, render_split


def pooled_logits(z: torch.Tensor, pool: int) -> torch.Tensor:
    """Decoder logits [B, T, K] → control points [B, K, ceil(T / pool)] (means over ``pool`` frames)."""
    return F.avg_pool1d(z.transpose(1, 2), pool, pool, ceil_mode=True)


def frame_logits(points: torch.Tensor, frames: int) -> torch.Tensor:
    """Control points [B, K, P] → logits [B, frames, K], linearly interpolated."""
    return F.interpolate(points, size=frames, mode="linear", align_corners=False).transpose(1, 2)


def free_envelope_fit(model, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: torch.Tensor, steps: int = 400,
                      pool: int = 5, lr: float = 0.05, dry: bool = False, train_eps: float = 1e-5,
                      report_every: int = 100) -> dict:
    """Fit a DDX7 model's envelopes to ``audio`` [B, N] directly, from its decoder's output on (f0, loudness) [B, T].

    Returns the decoder's test MSS, the fit's (the best point of its curve, step 0 included: the decoder's
    envelopes pooled to the control points, which can sit a little above the decoder's own MSS), and the curve
    [(step, MSS)]. The model's weights are not changed."""
    if pool < 1 or steps < 0:
        raise ValueError(f"free_envelope_fit needs pool ≥ 1 and steps ≥ 0, got pool={pool}, steps={steps}")
    model.eval()

    def render(z):
        audio_out = model.synth(f0_hz, z)
        return audio_out if dry or model.reverb is None else model.reverb(audio_out)

    with torch.no_grad():
        z0 = model.decoder(f0_hz, loudness_db)
        start = mean_mss(render(z0), audio)
    frames = z0.shape[1]
    points = pooled_logits(z0, pool).clone().requires_grad_(True)
    with torch.no_grad():
        curve = [(0, mean_mss(render(frame_logits(points, frames)), audio))]
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        opt = torch.optim.Adam([points], lr=lr)
        loss = MultiScaleSpectralLoss(eps=train_eps)
        for step in range(1, steps + 1):
            opt.zero_grad()
            loss(render(frame_logits(points, frames)), audio).backward()
            opt.step()
            if step % report_every == 0 or step == steps:
                with torch.no_grad():
                    curve.append((step, mean_mss(render(frame_logits(points, frames)), audio)))
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return {"decoder_mss": start, "free_mss": min(m for _, m in curve), "curve": curve}


def oracle_rows(ddx7_model, hpn_model, test: dict, run: str, instrument: str, n_excerpts: int = 8, steps: int = 400,
                pool: int = 5, progress=print) -> list[dict]:
    """One row per fit (with the reverb, and dry) of ``run`` on ``n_excerpts`` evenly spaced test excerpts, with
    HpN's MSS on the same excerpts beside it. "decoder MSS" is where each fit starts: the decoder's envelopes,
    rendered as that row's synth (so in the dry row without the reverb)."""
    idx = chosen_indices(len(test["audio"]), n_excerpts)
    f0 = torch.as_tensor(np.asarray(test["f0_hz"])[idx], dtype=torch.float32)
    ld = torch.as_tensor(np.asarray(test["loudness_db"])[idx], dtype=torch.float32)
    audio = torch.as_tensor(np.asarray(test["audio"], dtype=np.float32)[idx])
    hpn = mean_mss(render_split(hpn_model, f0, ld), audio)
    rows = []
    for dry in (False, True):
        t0 = time.perf_counter()
        fit = free_envelope_fit(ddx7_model, f0, ld, audio, steps=steps, pool=pool, dry=dry)
        rows.append({"instrument": instrument, "run": run, "synth": "dry (no reverb)" if dry else "with its reverb",
                     "excerpts": len(idx), "HpN MSS": hpn, "decoder MSS": fit["decoder_mss"],
                     "free-envelope MSS": fit["free_mss"], "free / HpN": fit["free_mss"] / hpn,
                     "decoder / HpN": fit["decoder_mss"] / hpn, "steps": steps, "pool_frames": pool,
                     "wall_s": round(time.perf_counter() - t0, 1)})
        progress(f"{run} ({rows[-1]['synth']}): decoder {fit['decoder_mss']:.3f}, free envelopes "
                 f"{fit['free_mss']:.3f}, HpN {hpn:.3f}")
    return rows


def evaluate_oracle(pairs: dict, profile: str, data_root="data", results_root="results", n_excerpts: int = 8,
                    steps: int = 400, pool: int = 5, progress=print):
    """oracle_rows of each pair's DDX7 run (instrument → (HpN run, DDX7 run), the shipped models) →
    ``results/<profile>/oracle/oracle.csv`` and ``oracle.json`` (rows, settings, wall time, provenance)."""
    t0 = time.perf_counter()
    torch.manual_seed(0)
    rows = []
    for instrument, (hpn_run, ddx7_run) in pairs.items():
        models = [load_model(find_checkpoint(r, profile, results_root=results_root))[0] for r in (ddx7_run, hpn_run)]
        test = load_split(profile, instrument, "test", root=data_root)
        rows += oracle_rows(*models, test, ddx7_run, instrument, n_excerpts, steps, pool, progress)
    table = pd.DataFrame(rows)
    out = Path(results_root) / profile / "oracle"
    write_csv(out / "oracle.csv", table)
    write_json(out / "oracle.json", {"pairs": {k: list(v) for k, v in pairs.items()}, "excerpts": n_excerpts,
                                     "steps": steps, "pool_frames": pool, "lr": 0.05, "train_eps": 1e-5,
                                     "rows": json.loads(table.to_json(orient="records")),
                                     "wall_s": round(time.perf_counter() - t0, 1), "provenance": provenance()})
    return table
