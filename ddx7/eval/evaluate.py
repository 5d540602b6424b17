"""Test-set evaluation of a trained run → ``results/<profile>/<run>/``.

Metrics: multi-scale spectral loss; Fréchet Audio Distance under every available embedding
(each value written with its embedding's name); f0 error of the resynthesis against its input
(same extractor as the dataset: median |cents|, raw pitch accuracy within 50 cents) on voiced
frames; loudness error (mean |dB|). Also written: a few test excerpts as 16 kHz WAV (original and
resynthesis; for Table 2 runs the paper's intervention too) chosen by a fixed rule (evenly spaced
over the test excerpts in manifest order), the training curve, a half-precision copy of the
model (``model.pt``) that ``ddx7 resynth`` can use, and the same test metrics for each of the run's
snapshots (``snapshots`` in metrics.json: the learning curves' test points).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .. import SAMPLE_RATE
from ..atomic import atomic_write, torch_save, write_bytes, write_csv, write_json
from ..audio_io import write_audio
from ..checkpoints import load_checkpoint, load_model, run_dir, snapshot_paths
from ..data import load_manifest, load_split
from ..data.features import extract_f0, loudness_db, pitch_metrics
from ..data.instruments import periodicity_threshold
from ..losses import MultiScaleSpectralLoss
from ..provenance import provenance
from ..runs import config_changes, config_hash, run_config
from ..synth.interventions import paper_intervention
from .fad import fad, get_embedding
from .haze import between_harmonics_db
from .rests import clip_rests_above_input_db

DEFAULT_EMBEDDINGS = ("aisfx", "mfcc")


def chosen_indices(n: int, k: int) -> list[int]:
    """The fixed rule for which test excerpts are kept as audio: k evenly spaced, first and last included."""
    if n <= 0:
        return []
    return sorted(set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist()))


@torch.no_grad()
def render_split(model, f0: torch.Tensor, loudness: torch.Tensor, batch: int = 8, seed: int = 0,
                 **kwargs) -> torch.Tensor:
    """The model's audio for every excerpt, ``batch`` at a time. HpN's noise comes from a generator seeded with
    ``seed``, so that its test metrics are the same at every evaluation (torch's global RNG depends on what ran
    before)."""
    if getattr(model, "config", {}).get("model") == "hpn" and "generator" not in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(seed)
    outs = [model(f0[i:i + batch], loudness[i:i + batch], **kwargs) for i in range(0, len(f0), batch)]
    return torch.cat(outs)


def mean_mss(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """The test metric: the multi-scale spectral loss (log floor 1e-7) of each excerpt [B, N], averaged."""
    loss = MultiScaleSpectralLoss()
    with torch.no_grad():
        return float(np.mean([loss(prediction[i:i + 1], target[i:i + 1]).item() for i in range(len(target))]))


def cached_embeddings(audio: np.ndarray, embedding, cache_dir: Path | None, key: str) -> np.ndarray:
    """Embeddings of the original test clips are the same for every run: cache them per dataset."""
    if cache_dir is None:
        return embedding.embed(list(audio), SAMPLE_RATE)
    safe = hashlib.sha256(embedding.name.encode()).hexdigest()[:10]
    path = Path(cache_dir) / f"emb_{key}_{safe}.npy"
    if path.exists():
        return np.load(path)
    emb = embedding.embed(list(audio), SAMPLE_RATE)
    atomic_write(path, lambda f: np.save(f, emb))  # concurrent evaluations of one dataset: never a torn file
    return emb


def training_stats(run_path: Path, best: dict) -> dict:
    """Total steps and training wall time of a run, from its last.pt (or from best.pt when there is no
    last.pt). An unreadable last.pt only costs these two numbers: one warning line, and they are None."""
    last_path = Path(run_path) / "last.pt"
    if not last_path.exists():
        return {"steps_total": best.get("step"), "train_wall_s": best.get("wall_s")}
    try:
        last = load_checkpoint(last_path)
    except ValueError as e:
        print(f"warning: {e}; the training steps and wall time are left out of the metrics", file=sys.stderr)
        return {"steps_total": None, "train_wall_s": None}
    return {"steps_total": last.get("step"), "train_wall_s": last.get("wall_s")}


def fad_metrics(original: np.ndarray, resynth: np.ndarray, embeddings, cache_dir, key, vggish_weights=None) -> dict:
    out = {}
    for name in embeddings:
        kwargs = {"vggish_weights": vggish_weights} if name == "vggish" else {}
        try:
            emb = get_embedding(name, **kwargs)
        except (ImportError, ValueError, FileNotFoundError) as e:  # e.g. VGGish without weights
            out[name] = {"fad": None, "embedding": name, "skipped": str(e)}
            continue
        ea = cached_embeddings(original, emb, cache_dir, key)
        eb = emb.embed(list(resynth), SAMPLE_RATE)
        out[name] = {"fad": fad(ea, eb), "embedding": emb.name, "n_clips": len(resynth)}
    return out


def pitch_loudness_metrics(original_f0, original_periodicity, original_loudness, resynth, extractor,
                           voiced_threshold: float, max_excerpts: int = 12) -> dict:
    idx = chosen_indices(len(resynth), max_excerpts)
    f0_hat, _ = extract_f0(resynth[idx], method=extractor)
    voiced = original_periodicity[idx] >= voiced_threshold
    pm = pitch_metrics(f0_hat, original_f0[idx], voiced)
    ld_hat = loudness_db(resynth)
    return {"f0_median_abs_cents": pm["median_abs_cents"], "f0_rpa_50c": pm["rpa"], "f0_frames": pm["frames"],
            "f0_excerpts": len(idx), "f0_extractor": extractor, "voiced_periodicity_threshold": voiced_threshold,
            "loudness_mean_abs_db": float(np.mean(np.abs(ld_hat - original_loudness)))}


def test_scores(model, test: dict, instrument: str, manifest: dict, extractor: str, embeddings, data_root, profile,
                input_haze_db: float, vggish_weights=None) -> tuple[dict, np.ndarray]:
    """(MSS, FAD per embedding, f0 and loudness errors, haze) of ``model`` on the test split, and its resynthesis.
    ``input_haze_db``: the test input's own haze, computed once by the caller for the model and its snapshots."""
    f0 = torch.as_tensor(test["f0_hz"], dtype=torch.float32)
    ld = torch.as_tensor(test["loudness_db"], dtype=torch.float32)
    original = np.asarray(test["audio"], dtype=np.float32)
    f0_hz, periodicity = np.asarray(test["f0_hz"]), np.asarray(test["periodicity"])
    threshold = periodicity_threshold(instrument)
    resynth_t = render_split(model, f0, ld)
    resynth = resynth_t.numpy()
    scores = {
        "mss": mean_mss(resynth_t, torch.from_numpy(original)),
        "fad": fad_metrics(original, resynth, embeddings, Path(data_root) / profile / instrument / "fad_cache",
                           manifest["manifest_hash"], vggish_weights),
        **pitch_loudness_metrics(f0_hz, periodicity, np.asarray(test["loudness_db"]), resynth, extractor, threshold),
        # energy between the harmonics above 2 kHz (ddx7.eval.haze), of the resynthesis and of the input, in dB
        "harmonic_haze_db": between_harmonics_db(resynth, f0_hz, periodicity >= threshold),
        "harmonic_haze_input_db": input_haze_db,
    }
    return scores, resynth


def evaluate_run(name: str, profile: str, data_root="data", checkpoint_root=None, results_root="results",
                 embeddings=DEFAULT_EMBEDDINGS, vggish_weights=None, n_clips: int = 3, ship_model: bool = True,
                 progress: bool = True) -> dict:
    t0 = time.perf_counter()
    cfg = run_config(name, profile)
    instrument = cfg["data"]["instrument"]
    ckpt_path = run_dir(name, profile, checkpoint_root) / "best.pt"
    model, ckpt = load_model(ckpt_path)
    stats = training_stats(ckpt_path.parent, ckpt)
    manifest = load_manifest(profile, instrument, root=data_root)
    if ckpt.get("manifest_hash") != manifest["manifest_hash"]:
        raise ValueError(f"{name}: checkpoint {ckpt_path} was trained on dataset {ckpt.get('manifest_hash')}, "
                         f"the current {profile} dataset is {manifest['manifest_hash']}: retrain it")
    changes = config_changes(ckpt.get("run_config"), cfg)
    if changes:
        raise ValueError(f"{name}: checkpoint {ckpt_path} was trained with another config than today's "
                         f"({'; '.join(changes)}): retrain it (`ddx7 train {name} --profile {profile} --restart`)")
    test = load_split(profile, instrument, "test", root=data_root)
    f0 = torch.as_tensor(test["f0_hz"], dtype=torch.float32)
    ld = torch.as_tensor(test["loudness_db"], dtype=torch.float32)
    original = np.asarray(test["audio"], dtype=np.float32)
    extractor = ckpt.get("extractor") or manifest.get("extractor", {}).get("method", "pyin")
    input_haze_db = between_harmonics_db(original, np.asarray(test["f0_hz"]),
                                         np.asarray(test["periodicity"]) >= periodicity_threshold(instrument))
    score = partial(test_scores, test=test, instrument=instrument, manifest=manifest, extractor=extractor,
                    embeddings=embeddings, data_root=data_root, profile=profile, input_haze_db=input_haze_db,
                    vggish_weights=vggish_weights)
    scores, resynth = score(model)
    metrics = {
        "run": name, "profile": profile, "instrument": instrument, "model": cfg["model"]["kind"],
        "patch": cfg["model"].get("patch"), "imax": cfg["model"].get("imax"), "tables": cfg.get("tables", []),
        "test_excerpts": len(original), **scores,
        "steps": ckpt.get("step"), "steps_total": stats["steps_total"], "best_valid_mss": ckpt.get("best_valid"),
        "train_wall_s": stats["train_wall_s"], "seed": cfg["seed"], "manifest_hash": manifest["manifest_hash"],
        "config": cfg, "checkpoint": str(ckpt_path),
    }
    snapshots = []
    for path in snapshot_paths(ckpt_path.parent):  # the same test metrics at the steps the config lists
        snap_model, snap = load_model(path)
        snap_scores, _ = score(snap_model)
        snapshots.append({"step": snap["step"], "train_wall_s": snap.get("wall_s"), **snap_scores})
    if snapshots:
        metrics["snapshots"] = snapshots
    out = Path(results_root) / profile / name
    out.mkdir(parents=True, exist_ok=True)
    clip_ids = chosen_indices(len(original), n_clips)
    ids = [str(x) for x in test.get("excerpt_id", range(len(original)))]
    clips = []
    intervention = None
    if cfg["model"]["kind"] == "ddx7" and 2 in cfg.get("tables", []):
        intervention = paper_intervention(instrument, model.patch)
        intervened = render_split(model, f0[clip_ids], ld[clip_ids], ratios=intervention.ratios,
                                  env_gain=intervention.env_gain).numpy()
    for j, i in enumerate(clip_ids):
        entry = {"excerpt": ids[i], "original": f"audio/{i:03d}_original.wav", "resynth": f"audio/{i:03d}_resynth.wav"}
        write_audio(out / entry["original"], original[i], SAMPLE_RATE)
        write_audio(out / entry["resynth"], np.clip(resynth[i], -1, 1), SAMPLE_RATE)
        if intervention is not None:
            entry["intervened"] = f"audio/{i:03d}_intervened.wav"
            peak = max(1.0, np.abs(intervened[j]).max())
            write_audio(out / entry["intervened"], np.clip(intervened[j] / peak, -1, 1), SAMPLE_RATE)
        clips.append(entry)
    metrics["clips"] = clips
    # from the shipped clips as written, not the whole split: a reader recomputes it from results/ alone
    metrics["rests_above_input_db"] = clip_rests_above_input_db(out, clips)
    if intervention is not None:
        metrics["intervention"] = {"name": intervention.name, "ratios": intervention.ratios,
                                   "env_gain": intervention.env_gain}
    log = ckpt_path.with_name("log.csv")
    if log.exists():
        write_bytes(out / "train_log.csv", log.read_bytes())
    if ship_model:
        state = {k: v.half() if torch.is_floating_point(v) else v for k, v in model.state_dict().items()}
        torch_save({"config": model.config, "model": state, "run_config": cfg, "step": ckpt.get("step"),
                    "manifest_hash": manifest["manifest_hash"], "extractor": extractor}, out / "model.pt")
    metrics["eval_wall_s"] = round(time.perf_counter() - t0, 1)
    metrics["provenance"] = provenance()
    write_json(out / "metrics.json", metrics)
    return metrics


def metrics_row(m: dict) -> dict:
    """A run's metrics.json flattened for a table: names, test metrics, one ``fad_<embedding>`` per embedding."""
    row = {k: m.get(k) for k in ("run", "instrument", "model", "patch", "imax", "mss", "f0_median_abs_cents",
                                 "f0_rpa_50c", "loudness_mean_abs_db", "rests_above_input_db",
                                 "harmonic_haze_db", "harmonic_haze_input_db")}
    row.update({f"fad_{k}": v.get("fad") for k, v in m.get("fad", {}).items()})
    return row


def write_metrics_csv(profile: str, results_root="results") -> Path | None:
    """``results/<profile>/metrics.csv``: one row per evaluated run, with what produced it."""

    import pandas as pd


    rows = []
    for path in sorted((Path(results_root) / profile).glob("*/metrics.json")):
        m = json.loads(path.read_text())
        row = metrics_row(m)
        row["tables"] = " ".join(str(t) for t in m.get("tables", []))
        t = m["config"]["train"]
        row.update({"best_step": m.get("steps"), "steps": m.get("steps_total"), "batch": t["batch_size"],
                    "excerpt_frames": t["excerpt_frames"], "best_valid_mss": m.get("best_valid_mss"),
                    "train_wall_s": m.get("train_wall_s"), "eval_wall_s": m.get("eval_wall_s"), "seed": m.get("seed"),
                    "config_hash": config_hash(m["config"]), "manifest_hash": m.get("manifest_hash"),
                    "git_commit": m.get("provenance", {}).get("git_commit"),
                    "cpu": m.get("provenance", {}).get("cpu")})
        rows.append(row)
    if not rows:
        return None
    return write_csv(Path(results_root) / profile / "metrics.csv", pd.DataFrame(rows))

