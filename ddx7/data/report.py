"""Tables and figures about a built dataset (used by notebooks/01_data.ipynb)."""

from __future__ import annotations

import numpy as np

from .. import HOP, SAMPLE_RATE
from .build import ensure_built
from .card import has_card, load_card
from .dataset import load_manifest, load_split
from .splits import SPLITS


def pieces_table(manifest: dict):
    """One row per piece: split, excerpts, seconds, source."""
    import pandas as pd

    rows = [{"piece": p["piece"], "split": p["split"], "excerpts": p["excerpts"],
             "seconds": round(p["seconds"], 1), "source": "; ".join(p["sources"])}
            for p in manifest["pieces"]]
    order = {s: i for i, s in enumerate(SPLITS)}
    return pd.DataFrame(rows).sort_values(["split", "piece"], key=lambda c: c.map(order)
                                          if c.name == "split" else c).reset_index(drop=True)


def summary_table(manifest: dict):
    """Per split: pieces, excerpts, minutes; plus dropped and skipped counts."""
    import pandas as pd

    st = manifest["stats"]
    df = pd.DataFrame({s: {"pieces": st["pieces"][s], "excerpts": st["excerpts"][s],
                           "minutes": st["minutes"][s]} for s in SPLITS}).T
    df.loc["total"] = [sum(st["pieces"].values()), sum(st["excerpts"].values()),
                       round(st["minutes_total"], 3)]
    return df


def benchmark_table(manifest: dict):
    """The f0 extractors measured against the score's f0 (rendered corpus)."""
    import pandas as pd

    rows = manifest.get("f0_benchmark") or []
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    df["RPA (%)"] = (100 * df["rpa"]).round(2)
    df["median |cents|"] = df["median_abs_cents"].round(1)
    df["s / excerpt"] = df["seconds_per_excerpt"].round(2)
    df["mean periodicity"] = df["mean_periodicity"].round(3)
    cols = ["method", "analysis_hop", "excerpts", "frames", "RPA (%)", "median |cents|",
            "s / excerpt", "mean periodicity", "note"]
    return df[cols]


def load_all(profile: str, instrument: str, root="data") -> dict:
    return {s: load_split(profile, instrument, s, root) for s in SPLITS}


def committed_card(profile: str, instrument: str, root="data", results_root="results") -> tuple[dict, dict] | None:
    """(manifest, splits) of the committed data card (``results/<profile>/data/<instrument>``) when this
    machine has not built the dataset; None when it has, or when there is no card."""
    try:
        load_manifest(profile, instrument, root)
        return None
    except Exception:  # noqa: BLE001 - not built here (missing, or unreadable)
        pass
    return load_card(profile, instrument, results_root) if has_card(profile, instrument, results_root) else None


def dataset_for_chapter(profile: str, instrument: str, root="data", results_root="results"):
    """(manifest, splits, where) for the data chapter: the built dataset when there is one, else the
    committed data card (``results/<profile>/data``), else build it (smoke/quick: minutes)."""
    card = committed_card(profile, instrument, root, results_root)
    if card:
        return (*card, f"the committed data card `results/{profile}/data/{instrument}` (this machine has "
                       f"not built the {profile} dataset; `ddx7 data build --profile {profile}` does)")
    manifest = ensure_built(profile, instrument, root=root)
    return manifest, load_all(profile, instrument, root), f"the dataset built in `{root}/{profile}/{instrument}`"


def frame_table(splits: dict, min_periodicity: float = 0.5):
    """Frames of all splits (valid frames only): split, f0 (MIDI), loudness, periodicity."""
    import pandas as pd

    parts = []
    for s, d in splits.items():
        if not len(d["excerpt_id"]):
            continue
        nv = d["n_valid"] // HOP
        valid = np.arange(d["f0_hz"].shape[1])[None, :] < nv[:, None]
        f0 = d["f0_hz"][valid]
        midi = 69 + 12 * np.log2(np.maximum(f0, 1e-3) / 440.0)
        parts.append(pd.DataFrame({"split": s, "f0_midi": midi, "loudness_db":
                                   d["loudness_db"][valid], "periodicity":
                                   d["periodicity"][valid]}))
    df = pd.concat(parts, ignore_index=True)
    df["voiced"] = df["periodicity"] >= min_periodicity
    return df


def plot_histograms(splits: dict, title: str = ""):
    """Pitch (voiced frames) and loudness histograms, per split."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = frame_table(splits)
    fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
    sns.histplot(df[df.voiced], x="f0_midi", hue="split", stat="density", common_norm=False,
                 element="step", binwidth=0.5, ax=ax[0])
    ax[0].set_xlabel("f0 (MIDI note, frames with periodicity >= 0.5)")
    sns.histplot(df, x="loudness_db", hue="split", stat="density", common_norm=False,
                 element="step", binwidth=2, ax=ax[1])
    ax[1].set_xlabel("loudness (dB, A-weighted)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_excerpt(d: dict, i: int, title: str | None = None):
    """Spectrogram; f0 in semitones (extracted, and the score's when known); loudness and
    periodicity."""
    import librosa
    import matplotlib.pyplot as plt

    audio = d["audio"][i]
    t = np.arange(d["f0_hz"].shape[1]) * HOP / SAMPLE_RATE
    fig, ax = plt.subplots(3, 1, figsize=(12, 6.4), sharex=True,
                           gridspec_kw={"height_ratios": [2, 1.4, 1]})
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(audio, n_fft=1024, hop_length=128)),
                                   ref=np.max, top_db=80)
    ax[0].imshow(spec, origin="lower", aspect="auto", cmap="magma",
                 extent=[0, len(audio) / SAMPLE_RATE, 0, SAMPLE_RATE / 2])
    per = d["periodicity"][i]
    voiced = per >= 0.5
    f0 = np.where(voiced, d["f0_hz"][i], np.nan)
    top = np.nanmax(f0) if np.isfinite(f0).any() else 1000.0
    ax[0].set_ylim(0, min(SAMPLE_RATE / 2, 6 * top))
    ax[0].set_ylabel("Hz")
    ax[0].set_title(title or str(d["excerpt_id"][i]))

    def midi(f):
        return 69 + 12 * np.log2(np.maximum(f, 1e-3) / 440.0)

    if "f0_true_hz" in d:
        ft = d["f0_true_hz"][i]
        ax[1].plot(t, np.where(ft > 0, midi(ft), np.nan), color="C2", lw=3, alpha=0.5,
                   label="score f0 (notes + pitch bends)")
    ax[1].plot(t, midi(f0), color="k", lw=0.8, label="extracted f0 (periodicity >= 0.5)")
    ax[1].set_ylabel("MIDI note")
    ax[1].legend(loc="upper right", fontsize=8)
    ax[2].plot(t, d["loudness_db"][i], label="loudness (dB)")
    ax[2].set_ylabel("loudness dB")
    ax2 = ax[2].twinx()
    ax2.plot(t, per, color="C1", lw=0.8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("periodicity", color="C1")
    ax[2].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def instruments_overview(profile: str, instruments, root="data", results_root="results"):
    """One row per built instrument of a profile (or with a committed data card): minutes, excerpts,
    extractor, hash."""
    import pandas as pd

    rows = []
    for inst in instruments:
        card = committed_card(profile, inst, root, results_root)
        try:
            m = card[0] if card else load_manifest(profile, inst, root)
        except Exception:  # noqa: BLE001 - neither built nor carded
            continue
        st = m["stats"]
        rows.append({"instrument": inst, "pieces": len(m["pieces"]),
                     "excerpts": sum(st["excerpts"].values()),
                     "minutes": st["minutes_total"],
                     "dropped (periodicity)": st["excerpts_dropped_periodicity"],
                     "f0": f"{m['extractor']['method']}@{m['extractor']['analysis_hop']}",
                     "build s": m.get("build_info", {}).get("timings_s", {}).get("total_s"),
                     "manifest": m["manifest_hash"][:12]})
    return pd.DataFrame(rows)
