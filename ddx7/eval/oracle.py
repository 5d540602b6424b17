"""How far a trained DDX7 could go with better envelopes: the free-envelope fit (an "oracle decoder").

The decoder maps (f0, loudness) to the operators' envelopes. Here the envelopes are free instead: starting from
the decoder's own logits z on test excerpts, z is optimised directly (Adam, the training loss) while the model's
synth and learned reverb stay as trained. z has one control point per ``pool`` frames, linearly interpolated, so
that the fit shapes notes (20 ms at pool 5) rather than making noise from frame-to-frame flicker. The result is
what any decoder could reach with this patch and this reverb on these excerpts, up to the optimiser's local
minima: if it matches HpN where the trained decoder does not, the decoder or its training is the limit, not the
synth. ``dry=True`` leaves the reverb out: what the patch makes by itself.

``ddx7 eval-oracle`` → ``results/<profile>/oracle/oracle.csv`` and ``oracle.json`` (with provenance).
``ddx7 eval-oracle --unseen`` fits the phrases of ``ddx7 eval-unseen`` instead (another soundfont and performance,
cut into 4 s excerpts; with the reverb only) → ``results/<profile>/oracle-unseen/``. There the fit shows how much of
a decoder's gap on material it never heard is the patch's (free envelopes against HpN) and how much the decoder's
(decoder against free envelopes), to set beside the same split on the test set.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import HOP
from ..atomic import write_csv, write_json
from ..checkpoints import load_model
from ..data import load_split
from ..data.card import manifest_or_card
from ..data.excerpts import FRAMES
from ..losses import MultiScaleSpectralLoss
from ..provenance import provenance
from ..resynth import find_checkpoint
from .evaluate import chosen_indices, mean_mss, render_split
from .unseen import PERFORMANCE_SEED, unseen_phrases, unseen_soundfont


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


def evenly_spaced_excerpts(test: dict, n_excerpts: int = 8) -> dict:
    """``n_excerpts`` evenly spaced excerpts of a split (``chosen_indices``) as tensors: f0_hz, loudness_db [B, T],
    audio [B, N]."""
    idx = chosen_indices(len(test["audio"]), n_excerpts)
    return {"f0_hz": torch.as_tensor(np.asarray(test["f0_hz"])[idx], dtype=torch.float32),
            "loudness_db": torch.as_tensor(np.asarray(test["loudness_db"])[idx], dtype=torch.float32),
            "audio": torch.as_tensor(np.asarray(test["audio"], dtype=np.float32)[idx])}


def unseen_excerpts(instrument: str, profile: str, data_root="data", soundfont: str | None = None,
                    seconds: float = 8.0, frames: int = FRAMES) -> dict:
    """``ddx7 eval-unseen``'s phrases of ``instrument`` (ddx7.eval.unseen.unseen_phrases) cut into whole excerpts
    of ``frames`` frames (the test split's 4 s), with the features ``ddx7 resynth`` extracts from each whole phrase:
    f0_hz, loudness_db [B, frames], audio [B, frames · hop]."""
    from ..resynth import features

    f0s, lds, clips = [], [], []
    for _, audio in unseen_phrases(instrument, manifest_or_card(profile, instrument, data_root), soundfont,
                                   seconds):
        f0, ld, _ = features(audio)
        for start in range(0, min(len(f0), len(ld), len(audio) // HOP) - frames + 1, frames):
            f0s.append(f0[start:start + frames])
            lds.append(ld[start:start + frames])
            clips.append(audio[start * HOP:(start + frames) * HOP])
    if not clips:
        raise ValueError(f"no unseen phrase of {instrument} is {frames} frames long: give longer --seconds")
    return {"f0_hz": torch.as_tensor(np.stack(f0s), dtype=torch.float32),
            "loudness_db": torch.as_tensor(np.stack(lds), dtype=torch.float32),
            "audio": torch.as_tensor(np.stack(clips))}


def oracle_rows(ddx7_model, hpn_model, excerpts: dict, run: str, instrument: str, steps: int = 400, pool: int = 5,
                dry: bool = True, progress=print) -> list[dict]:
    """One row per fit (with the reverb, and with ``dry`` also without it) of ``run`` on ``excerpts``
    (:func:`evenly_spaced_excerpts` or :func:`unseen_excerpts`), with HpN's MSS on the same excerpts beside it. "decoder
    MSS" is where each fit starts: the decoder's envelopes, rendered as that row's synth (so in the dry row without
    the reverb)."""
    f0, ld, audio = excerpts["f0_hz"], excerpts["loudness_db"], excerpts["audio"]
    hpn = mean_mss(render_split(hpn_model, f0, ld), audio)
    rows = []
    for no_reverb in (False, True) if dry else (False,):
        t0 = time.perf_counter()
        fit = free_envelope_fit(ddx7_model, f0, ld, audio, steps=steps, pool=pool, dry=no_reverb)
        rows.append({"instrument": instrument, "run": run, "synth": "dry (no reverb)" if no_reverb else
                     "with its reverb", "excerpts": len(audio), "HpN MSS": hpn, "decoder MSS": fit["decoder_mss"],
                     "free-envelope MSS": fit["free_mss"], "free / HpN": fit["free_mss"] / hpn,
                     "decoder / HpN": fit["decoder_mss"] / hpn, "decoder / free": fit["decoder_mss"] / fit["free_mss"],
                     "steps": steps, "pool_frames": pool, "wall_s": round(time.perf_counter() - t0, 1)})
        progress(f"{run} ({rows[-1]['synth']}): decoder {fit['decoder_mss']:.3f}, free envelopes "
                 f"{fit['free_mss']:.3f}, HpN {hpn:.3f}")
    return rows


def oracle_folder(unseen: bool = False, name: str | None = None) -> str:
    """The folder under results/<profile>/ of an evaluate_oracle: ``name``, else ``oracle`` or ``oracle-unseen``."""
    return name or ("oracle-unseen" if unseen else "oracle")


def evaluate_oracle(pairs: dict, profile: str, data_root="data", results_root="results", n_excerpts: int = 8,
                    steps: int = 400, pool: int = 5, unseen: bool = False, progress=print, soundfont: str | None = None,
                    name: str | None = None):
    """oracle_rows of each instrument's DDX7 runs (instrument → (HpN run, DDX7 run, …), the shipped models) on
    ``n_excerpts`` test excerpts, or with ``unseen`` on the unseen phrases (rendered with ``soundfont``, default
    TimGM6mb; with the reverb only) → ``results/<profile>/<name>/`` (default ``oracle/``, ``oracle-unseen/``):
    ``oracle.csv`` and ``oracle.json`` (rows, settings, wall time, provenance)."""
    if soundfont and not unseen:
        raise ValueError("a soundfont renders unseen phrases: give it with unseen (--unseen)")
    t0 = time.perf_counter()
    torch.manual_seed(0)
    rows = []
    for instrument, (hpn_run, *ddx7_runs) in pairs.items():
        hpn = load_model(find_checkpoint(hpn_run, profile, results_root=results_root))[0]
        excerpts = (unseen_excerpts(instrument, profile, data_root, soundfont) if unseen else
                    evenly_spaced_excerpts(load_split(profile, instrument, "test", root=data_root), n_excerpts))
        for run in ddx7_runs:
            model = load_model(find_checkpoint(run, profile, results_root=results_root))[0]
            rows += oracle_rows(model, hpn, excerpts, run, instrument, steps, pool, dry=not unseen,
                                progress=progress)
    table = pd.DataFrame(rows)
    out = Path(results_root) / profile / oracle_folder(unseen, name)
    write_csv(out / "oracle.csv", table)
    data = {"manifest_hashes": {i: manifest_or_card(profile, i, data_root, results_root).get("manifest_hash")
                                for i in pairs}}
    if unseen:
        data.update(soundfont=Path(unseen_soundfont(soundfont)).name, performance_seed=PERFORMANCE_SEED, seconds=8.0)
    write_json(out / "oracle.json", {"pairs": {k: list(v) for k, v in pairs.items()}, **data, "seed": 0,
                                     "excerpts": "unseen phrases, 4 s pieces" if unseen else n_excerpts,
                                     "steps": steps, "pool_frames": pool, "lr": 0.05, "train_eps": 1e-5,
                                     "rows": json.loads(table.to_json(orient="records")),
                                     "wall_s": round(time.perf_counter() - t0, 1), "provenance": provenance()})
    return table
