"""Analyses that run the trained models or measure their audio: spectral flatness at initialisation, the dropout
gap, a clip's controls, the level of rests between detached notes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
import torch

from ..checkpoints import CHECKPOINT_ROOT, load_model
from ..eval.mss_bands import mss_by_band, top_band_log_by_pitch
from ..eval.rests import rest_levels
from ..losses import MultiScaleSpectralLoss
from ..models import build_model
from ..pipeline import RESULTS, find_root, results_dir
from ..resynth import VOICED_PERIODICITY, features, find_checkpoint
from ..runs import model_kwargs, run_config
from .findings import collapsed_runs
from .loaders import load_metrics, load_metrics_json, load_test_split


def init_flatness(run: str, profile: str, f0_hz: float = 300.0, loudness_db: float = -40.0) -> float:
    """Spectral flatness of a 2 s note rendered by the run's model at initialisation (its seed): ~0 for a
    pitched tone, ≥ 0.01 for noise-like FM."""
    cfg = run_config(run, profile)
    torch.manual_seed(cfg["seed"])
    model = build_model(model_kwargs(cfg)).eval()
    with torch.no_grad():
        audio = model(torch.full((1, 500), f0_hz), torch.full((1, 500), loudness_db))[0].numpy()
    return float(librosa.feature.spectral_flatness(y=audio)[0].mean())


def collapsed_flatness(table: pd.DataFrame, profile: str, cents: float = 100.0) -> dict[str, float]:
    """run → init_flatness, for the runs of a metrics_table that lost the pitch (findings.collapsed_runs)."""
    return {run: init_flatness(run, profile) for run in collapsed_runs(table, cents)}


def _shipped_model(profile: str, run: str):
    """(model in eval mode, checkpoint dict): results/<profile>/<run>/model.pt, else the training checkpoint."""
    root = find_root()
    return load_model(find_checkpoint(run, profile, results_root=root / RESULTS,
                                      checkpoint_root=root / CHECKPOINT_ROOT))


def dropout_gap_table(profile: str, runs, seeds: int = 3) -> pd.DataFrame:
    """For DDX7 runs: MSS of the shipped test clips rendered as evaluated (dropout off) and as in training
    (dropout 0.5 on, mean of ``seeds`` masks), and the energy of the learned reverb tail. A model far better
    with dropout on has learned to use dropout's random envelope modulation as its noise."""
    mss, rows = MultiScaleSpectralLoss(), []
    for run in runs:
        m = load_metrics_json(profile, run)
        if m["model"] != "ddx7":
            continue
        model, _ = _shipped_model(profile, run)
        test = load_test_split(profile, m["instrument"])
        off, on = [], []
        for c in m["clips"]:
            i = int(Path(c["original"]).name[:3])  # clips are named by their test-split index
            audio = torch.as_tensor(sf.read(results_dir(profile) / run / c["original"], dtype="float32")[0])[None]
            f0 = torch.as_tensor(np.asarray(test["f0_hz"][i], dtype=np.float32))[None]
            ld = torch.as_tensor(np.asarray(test["loudness_db"][i], dtype=np.float32))[None]
            with torch.no_grad():
                off.append(mss(model(f0, ld), audio).item())
                model.train()
                for seed in range(seeds):
                    torch.manual_seed(seed)
                    on.append(mss(model(f0, ld), audio).item())
                model.eval()
        with torch.no_grad():
            tail = float(model.reverb.tail().pow(2).sum()) if model.reverb is not None else 0.0
        rows.append({"run": run, "MSS (dropout off, as evaluated)": np.mean(off), "MSS (dropout on, as trained)":
                     np.mean(on), "on / off": np.mean(on) / np.mean(off), "reverb tail energy": tail})
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def dropout_gap_runs(profile: str) -> list[str]:
    """The evaluated DDX7 runs of the profile."""
    return list(load_metrics(profile).query("model == 'ddx7'")["run"])


def reverb_response(reverb, sample_rate: int, n_fft: int = 1 << 16) -> dict:
    """The learned reverb h = δ + tail as a filter: its tail's energy Σ tail² (× the direct path's, which is 1),
    and its magnitude response |H(f)| in dB: the peak, where it is, and the median over 0 … Nyquist. A dry
    reverb is 0 dB everywhere; a tail much louder than the direct sound with a peak of tens of dB is an
    equaliser (or a resonator) rather than a room."""
    with torch.no_grad():
        h = reverb.impulse_response().double()
    gain_db = 20 * torch.log10(torch.fft.rfft(h, n_fft).abs().clamp_min(1e-12))
    peak = int(gain_db.argmax())
    return {"tail energy (× direct)": float(h[1:].square().sum()), "peak gain (dB)": float(gain_db[peak]),
            "peak at (Hz)": peak * sample_rate / n_fft, "median gain (dB)": float(gain_db.median())}


def reverb_table(profile: str, runs) -> pd.DataFrame:
    """reverb_response of every DDX7 run's shipped model beside its test FAD (aisfx) and MSS, from results/ alone."""
    rows = []
    for run in runs:
        m = load_metrics_json(profile, run)
        if m["model"] != "ddx7":
            continue
        model, _ = _shipped_model(profile, run)
        if model.reverb is None:
            continue
        fad = m.get("fad", {}).get("aisfx", {}).get("fad")
        rows.append({"run": run, "FAD aisfx": float("nan") if fad is None else fad, "MSS": m["mss"],
                     **reverb_response(model.reverb, model.sample_rate)})
    return pd.DataFrame(rows)


def excerpt_controls(profile: str, run: str, index: int = 0):
    """(model, f0 [frames], loudness [frames], original audio [samples]) of a run's chosen test clip, from
    results/ alone (f0 and loudness extracted from the clip as resynthesis does)."""
    model, ckpt = _shipped_model(profile, run)
    m = load_metrics_json(profile, run)
    audio, _ = sf.read(results_dir(profile) / run / m["clips"][index]["original"], dtype="float32")
    f0, ld, _ = features(audio, ckpt.get("extractor") or "pyin", run)
    return model, f0, ld, audio


def rest_level_table(profile: str, pairs, below_db: float = 20.0) -> pd.DataFrame:
    """rest_levels of every shipped test clip of the Table 1 pairs (instrument → (HpN run, DDX7 run)): one
    row per clip with rests, the input's level beside HpN's and DDX7's, from results/ alone."""
    rows = []
    for instrument, (hpn, ddx7) in pairs.items():
        clips = {run: load_metrics_json(profile, run)["clips"] for run in (hpn, ddx7)}
        for a, b in zip(clips[hpn], clips[ddx7]):
            if a["excerpt"] != b["excerpt"]:
                continue  # evaluated on different test splits: nothing to compare
            read = lambda run, rel: sf.read(results_dir(profile) / run / rel, dtype="float32")[0]  # noqa: E731
            levels = rest_levels(read(hpn, a["original"]), {"HpN": read(hpn, a["resynth"]),
                                                             "DDX7": read(ddx7, b["resynth"])}, below_db)
            if levels["rest frames"]:
                rows.append({"instrument": instrument, "excerpt": a["excerpt"], **levels})
    return pd.DataFrame(rows)


def mss_band_table(profile: str, runs, unseen=("unseen", "unseen-csound")) -> pd.DataFrame:
    """ddx7.eval.mss_bands of each run's shipped test clips (mean over the clips, rendered with the corpus's
    soundfont) and, for the runs an ``eval-unseen`` folder kept audio of, of its phrases: one row per (material,
    run), the MSS in each band (linear + log term) and the top band's log term alone, from results/ alone."""
    rows = []
    for material, run, pairs in _clip_pairs(profile, runs, unseen):
        tables = [mss_by_band(*_read_pair(*pair)) for pair in pairs]
        if not tables:
            continue
        mean = sum(t.set_index("band")[["total", "log"]] for t in tables) / len(tables)
        top = mean.index[-1]
        rows.append({"material": material, "run": run, "clips": len(tables), **mean["total"].to_dict(),
                     f"{top}, log term": mean.loc[top, "log"], "MSS": mean["total"].sum()})
    return pd.DataFrame(rows)


def _read_pair(reference_path, rendering_path) -> tuple[np.ndarray, np.ndarray]:
    """A reference and its rendering, cut to a common length (as eval.unseen.compare: a rendering may end a few
    samples short)."""
    a, b = (sf.read(p, dtype="float32")[0] for p in (reference_path, rendering_path))
    n = min(len(a), len(b))
    return a[:n], b[:n]


def _clip_pairs(profile: str, runs, unseen):
    """(material, run, [(reference path, rendering path)]) of each run's shipped test clips, then of the phrases of
    each ``eval-unseen`` folder that kept audio of the run."""
    root = results_dir(profile)
    for run in runs:
        clips = load_metrics_json(profile, run)["clips"]
        yield "test clips", run, [(root / run / c["original"], root / run / c["resynth"]) for c in clips]
    for name in unseen:
        meta_path = root / name / "unseen.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if not meta.get("keep_audio"):
            continue
        phrases = list(dict.fromkeys(r["phrase"] for r in meta["rows"]))
        for run in runs:
            pairs = [(root / name / "audio" / f"{p}.wav", root / name / "audio" / f"{p}--{run}.wav") for p in phrases]
            pairs = [p for p in pairs if p[1].exists()]
            if pairs:
                yield f"{name} ({Path(meta['soundfont']).stem})", run, pairs


def pitch_band_table(profile: str, runs, unseen=("unseen", "unseen-csound"), frames: bool = False,
                     **kwargs) -> pd.DataFrame:
    """ddx7.eval.mss_bands.top_band_log_by_pitch over each run's clips (as :func:`mss_band_table`), the
    reference's f0 and voicing by pYIN (ddx7.resynth.features): one row per (material, run), the mean log term
    of each f0 range over all its frames (and with ``frames`` the frames counted, ``frames <range>``)."""
    rows, controls = [], {}
    for material, run, pairs in _clip_pairs(profile, runs, unseen):
        parts = []
        for pair in pairs:
            a, b = _read_pair(*pair)
            key = hashlib.sha1(a.tobytes()).hexdigest()  # every run ships its own copy of a test clip
            if key not in controls:
                f0, _, periodicity = features(a, "pyin")
                controls[key] = (f0, periodicity >= VOICED_PERIODICITY)
            parts.append(top_band_log_by_pitch(a, b, *controls[key], **kwargs))
        both = pd.concat(parts)
        both["sum"] = both["log term"].fillna(0) * both["frames"]
        by = both.groupby("f0", sort=False)[["sum", "frames"]].sum()
        rows.append({"material": material, "run": run, **(by["sum"] / by["frames"]).to_dict(),
                     **({f"frames {f0}": int(k) for f0, k in by["frames"].items()} if frames else {})})
    return pd.DataFrame(rows)
