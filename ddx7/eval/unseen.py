"""Phrases the models never heard, resynthesised as a user would: another sample set, another performance.

Per instrument, from each test-split piece of the dataset (the split is by piece, so no model trained on it):
the melody performed again with another seed (other vibrato, dynamics, articulation and tempo) and rendered
with **another soundfont** (default: Debian's TimGM6mb, not the FluidR3 the corpus uses); one phrase of
``seconds`` from each, starting at its first note. Every Table 1 model resynthesises each phrase exactly as
``ddx7 resynth --run RUN`` does (its own f0 extractor, the streaming renderer, the silence gate), and the
multi-scale spectral loss against the (peak-normalised) input is compared as DDX7 / HpN.

``ddx7 eval-unseen`` → ``results/<profile>/unseen/``: the phrases (WAV), each model's resynthesis, and
``unseen.csv`` / ``unseen.json`` (per phrase and model: MSS, f0 and loudness error; with provenance).
``ddx7 eval-unseen --all-runs`` → ``results/<profile>/unseen-all/``: every DDX7 run of the grid on the same
phrases against its instrument's HpN (tables only, no audio): which patches reach HpN where Table 1's does not.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import SAMPLE_RATE
from ..atomic import write_csv, write_json
from ..audio_io import write_audio
from ..checkpoints import run_dir, snapshot_path, snapshot_paths, snapshot_step
from ..data.features import cents, loudness_db
from ..data.melody import piece_id
from ..data.render import find_soundfont, load_catalog, render_piece
from ..losses import MultiScaleSpectralLoss
from ..provenance import provenance
from ..resynth import ModelChoice, features, resynth_file

OTHER_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"  # Debian's timgm6mb-soundfont
PERFORMANCE_SEED = 777  # the corpus is performed with seed 1234


def unseen_soundfont(soundfont: str | None = None) -> str:
    """The soundfont file the unseen phrases are rendered with: ``soundfont``, else TimGM6mb."""
    return find_soundfont(soundfont or OTHER_SOUNDFONT)


def held_out_specs(instrument: str, manifest: dict) -> list[str]:
    """The catalog specs of the pieces in the dataset's test split, in catalog order."""
    test = {p["piece"] for p in manifest["pieces"] if p["split"] == "test"}
    return [s for s in load_catalog()[instrument] if piece_id(s) in test]


def unseen_phrases(instrument: str, manifest: dict, soundfont: str | None = None, seconds: float = 8.0,
                   seed: int = PERFORMANCE_SEED) -> list[tuple[str, np.ndarray]]:
    """(name, mono 16 kHz audio peak-normalised to 1 as ``ddx7 resynth`` normalises its input) of one phrase
    per test piece, performed with ``seed`` and rendered with ``soundfont``."""
    sf = unseen_soundfont(soundfont)
    phrases = []
    for spec in held_out_specs(instrument, manifest):
        piece = render_piece(spec, instrument, seed=seed, soundfont=sf, max_seconds=seconds + 4.0)
        voiced = np.flatnonzero(piece.f0_mask)
        first = int(voiced[0]) * len(piece.audio) // len(piece.f0_mask) if len(voiced) else 0
        start = max(0, first - SAMPLE_RATE // 10)  # 0.1 s before the first note
        audio = piece.audio[start:start + int(seconds * SAMPLE_RATE)].astype(np.float32)
        peak = float(np.abs(audio).max())
        if peak > 0:
            phrases.append((f"{instrument}-{piece_id(spec)}", audio * np.float32(1.0 / peak)))
    return phrases


def compare(original: np.ndarray, rendered: np.ndarray, extractor: str = "pyin", reference=None) -> dict:
    """MSS, median |f0 error| (cents, frames voiced in both; NaN and ``pitched`` False when the resynthesis has
    too few voiced frames for ddx7.resynth.features) and mean |loudness error| (dB) of a resynthesis;
    ``reference``: :func:`features` of the whole original when already computed (one phrase, many models);
    used when the rendering is as long as the original (pYIN decodes the whole signal: a cut changes it)."""
    n = min(len(original), len(rendered))
    a, b = torch.from_numpy(original[None, :n]), torch.from_numpy(np.ascontiguousarray(rendered[None, :n]))
    with torch.no_grad():
        mss = MultiScaleSpectralLoss()(b, a).item()
    if reference is None or n < len(original):
        reference = features(original[:n], extractor)
    f0_a, _, per_a = reference
    try:
        f0_b, _, per_b = features(rendered[:n], extractor, name="resynthesis")
        voiced = (per_a >= 0.5) & (per_b >= 0.5)
        pitched = True
    except ValueError:  # a model that renders no pitched sound is a result here, not an input to refuse
        voiced, pitched = np.zeros(0, dtype=bool), False
    f0_err = float(np.median(np.abs(cents(f0_b[voiced], f0_a[voiced])))) if voiced.any() else float("nan")
    return {"mss": mss, "f0_median_abs_cents": f0_err, "pitched": pitched,
            "loudness_mean_abs_db": float(np.mean(np.abs(loudness_db(rendered[:n]) - loudness_db(original[:n]))))}


def model_choices(pairs: dict, profile: str, step: int | None = None) -> dict[str, ModelChoice]:
    """run → the model that renders it: its best checkpoint, or for the DDX7 runs with ``step`` their snapshot at
    that step (the HpN runs keep their best). Every snapshot is checked before any work."""
    choices = {}
    for runs in pairs.values():
        hpn, *ddx7_runs = runs
        choices[hpn] = ModelChoice(run=hpn, profile=profile)
        for run in ddx7_runs:
            if step is None:
                choices[run] = ModelChoice(run=run, profile=profile)
                continue
            path = snapshot_path(run_dir(run, profile), step)
            if not path.is_file():
                have = ", ".join(str(snapshot_step(p)) for p in snapshot_paths(path.parent)) or "none"
                raise FileNotFoundError(f"{run} has no snapshot at step {step} ({path}; its snapshots: {have}): "
                                        "give a step from its train.snapshot_steps")
            choices[run] = ModelChoice(checkpoint=path)
    return choices


def evaluate_unseen(pairs: dict, profile: str = "full", data_root="data", results_root="results",
                    soundfont: str | None = None, seconds: float = 8.0, name: str = "unseen",
                    keep_audio: bool = True, step: int | None = None) -> "pd.DataFrame":  # noqa: F821
    """Resynthesise unseen phrases with each instrument's runs (instrument → (HpN run, DDX7 run, …)); write
    ``results/<profile>/<name>/`` and return the per-phrase table (one row per phrase and model, with DDX7/HpN
    MSS on the DDX7 rows). ``keep_audio``: also write the phrases and every resynthesis as WAV. ``step``: the DDX7
    runs' snapshots at that training step instead of their best checkpoints (:func:`model_choices`)."""
    import tempfile

    import pandas as pd

    from ..data.card import manifest_or_card

    t0 = time.perf_counter()
    choices = model_choices(pairs, profile, step)
    out = Path(results_root) / profile / name
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        audio_dir = out / "audio" if keep_audio else Path(scratch)
        for instrument, runs in pairs.items():
            manifest = manifest_or_card(profile, instrument, data_root, results_root)
            hpn = runs[0]
            for phrase_name, audio in unseen_phrases(instrument, manifest, soundfont, seconds):
                phrase = audio_dir / f"{phrase_name}.wav"
                write_audio(phrase, audio, SAMPLE_RATE)
                by_model, reference = {}, features(audio)
                for run in runs:
                    info = resynth_file(phrase, model=choices[run], progress=False)
                    if keep_audio:
                        write_audio(audio_dir / f"{phrase_name}--{run}.wav", np.clip(info["audio"], -1, 1),
                                    SAMPLE_RATE)
                    by_model[run] = compare(audio, info["audio"], reference=reference)
                    row = {"instrument": instrument, "phrase": phrase_name, "run": run,
                           "model": "hpn" if run.startswith("hpn") else "ddx7", **by_model[run]}
                    if run != hpn:
                        if step is not None:
                            row["step"] = step
                        row["mss_ratio_to_hpn"] = by_model[run]["mss"] / by_model[hpn]["mss"]
                    rows.append(row)
    table = pd.DataFrame(rows)
    write_csv(out / "unseen.csv", table)
    write_json(out / "unseen.json", {"keep_audio": keep_audio, "pairs": {k: list(v) for k, v in pairs.items()},
                                     "seconds": seconds, "step": step,
                                     "soundfont": Path(unseen_soundfont(soundfont)).name,
                                     "performance_seed": PERFORMANCE_SEED, "rows": json.loads(table.to_json(
                                         orient="records")), "wall_s": round(time.perf_counter() - t0, 1),
                                     "provenance": provenance()})
    return table


def summary(table: "pd.DataFrame") -> "pd.DataFrame":  # noqa: F821
    """evaluate_unseen's per-phrase table per instrument: mean MSS (median f0 error, mean loudness error) of
    DDX7 and HpN over the phrases, and DDX7/HpN MSS."""
    import pandas as pd

    rows = []
    for instrument, g in table.groupby("instrument", sort=False):
        by = g.groupby("model")
        mss, f0, loud = by["mss"].mean(), by["f0_median_abs_cents"].median(), by["loudness_mean_abs_db"].mean()
        rows.append({"instrument": instrument, "phrases": int(by.size().min()), "MSS DDX7": mss["ddx7"],
                     "MSS HpN": mss["hpn"], "MSS ratio": mss["ddx7"] / mss["hpn"], "f0 error DDX7 (cents)": f0["ddx7"],
                     "f0 error HpN (cents)": f0["hpn"], "loudness error DDX7 (dB)": loud["ddx7"],
                     "loudness error HpN (dB)": loud["hpn"]})
    return pd.DataFrame(rows)


def summary_by_run(table: "pd.DataFrame") -> "pd.DataFrame":  # noqa: F821
    """evaluate_unseen's per-phrase table per DDX7 run: its mean MSS over the phrases against its instrument's
    HpN (the ratio of the means, as :func:`summary`), the worst phrase's ratio, its mean loudness error, and how
    many of its resyntheses had no pitch (:func:`compare`)."""
    import pandas as pd

    rows = []
    for instrument, g in table.groupby("instrument", sort=False):
        hpn = g[g["model"] == "hpn"]
        for run, d in g[g["model"] == "ddx7"].groupby("run", sort=False):
            rows.append({"instrument": instrument, "run": run, "phrases": len(d), "MSS": d["mss"].mean(),
                         "MSS HpN": hpn["mss"].mean(), "MSS ratio": d["mss"].mean() / hpn["mss"].mean(),
                         "worst phrase ratio": d["mss_ratio_to_hpn"].max(),
                         "loudness error (dB)": d["loudness_mean_abs_db"].mean(),
                         "unpitched phrases": int((d["pitched"] == False).sum()) if "pitched" in d else 0})  # noqa: E712
    return pd.DataFrame(rows)
