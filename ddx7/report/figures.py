"""The book's result figures: training curves, metric bars, FAD heatmap, real-time factor, spectrogram grids."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import soundfile as sf

from ..data.instruments import INSTRUMENTS
from ..paper import table2_runs
from ..plots import spectrogram
from .loaders import fad_table, load_metrics_json, metrics_table, results_dir


def plot_curves(curves: pd.DataFrame, split: str = "valid", x: str = "step", instruments=INSTRUMENTS):
    """One panel per instrument: the loss of every run (load_curves) over the steps, or over the training
    CPU-seconds with ``x="wall_s"`` (one thread per run: wall time is its CPU time)."""
    data = curves[curves["split"] == split]
    fig, axes = plt.subplots(1, len(instruments), figsize=(5 * len(instruments), 4.2), sharey=True, squeeze=False)
    for ax, inst in zip(axes[0], instruments):
        d = data[data["instrument"] == inst]
        if len(d):
            sns.lineplot(d, x=x, y="loss", hue="run", ax=ax, marker="o" if split == "valid" else None,
                         markersize=4, linewidth=1.3)
            ax.legend(fontsize=7, title=None)
        ax.set(title=f"{inst}: {split} loss", xlabel="CPU seconds (1 thread)" if x == "wall_s" else x,
               ylabel="multi-scale spectral loss")
    fig.tight_layout()
    return fig


def plot_test_curves(snapshots: pd.DataFrame, metric: str = "FAD aisfx", instruments=INSTRUMENTS):
    """One panel per instrument: a test metric of each run (snapshot_table) against its training CPU
    seconds: each run's snapshots and shipped model as a line (HpN: squares)."""
    fig, axes = plt.subplots(1, len(instruments), figsize=(5 * len(instruments), 3.8), squeeze=False)
    for ax, inst in zip(axes[0], instruments):
        for run, d in snapshots[snapshots["instrument"] == inst].groupby("run"):
            d = d.sort_values("CPU s")
            ax.plot(d["CPU s"], d[metric], marker="o" if d["model"].iloc[0] == "ddx7" else "s", label=run)
            for x, y, step in zip(d["CPU s"], d[metric], d["step"]):
                ax.annotate(f"{step}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(title=f"{inst}: test {metric} (labels: steps)", xlabel="CPU seconds (1 thread)", ylabel=metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_metric_bars(table: pd.DataFrame, x: str = "instrument", hue: str = "model"):
    """One bar chart per metric of a metrics_table (every FAD column, MSS, f0 error)."""
    metrics = [c for c in table.columns if c.startswith("FAD")] + ["MSS", "f0 error (cents)"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6))
    data = table.reset_index()
    for ax, m in zip(np.atleast_1d(axes), metrics):
        sns.barplot(data, x=x, y=m, hue=hue, ax=ax)
        ax.set_title(f"{m} (lower is better)", fontsize=10)
        ax.legend(fontsize=7, title=None)
    fig.tight_layout()
    return fig


def plot_fad_heatmap(profile: str):
    """Every run's FAD, one heatmap column per embedding."""
    t = fad_table(profile)
    cols = [c for c in t.columns if c.startswith("FAD") and t[c].notna().any()]
    fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 0.35 * len(t) + 1.5))
    for ax, c in zip(np.atleast_1d(axes), cols):
        sns.heatmap(t[[c]], annot=True, fmt=".3g", cmap="viridis_r", ax=ax, cbar=False)
        ax.set_title(c)
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def plot_rtf(paper_table: pd.DataFrame, streaming: pd.DataFrame | None = None):
    """Real-time factor against latency: ours and the paper's by the paper's procedure (rtf.csv), and the
    streaming renderer (rtf_streaming.csv)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    t = paper_table.sort_values("latency_ms")
    ax.errorbar(t["latency_ms"], t["ddx7_mean"], t["ddx7_std"], marker="o", label="DDX7, paper procedure (ours)")
    ax.errorbar(t["latency_ms"], t["hpn_mean"], t["hpn_std"], marker="s", label="HpN, paper procedure (ours)")
    ax.plot(t["latency_ms"], t["paper_ddx7"], "o--", color="C0", alpha=0.45, label="DDX7, paper's Table 5")
    ax.plot(t["latency_ms"], t["paper_hpn"], "s--", color="C1", alpha=0.45, label="HpN, paper's Table 5")
    if streaming is not None and len(streaming):
        lat = "latency_ms" if "latency_ms" in streaming else "block_ms"
        for i, (variant, g) in enumerate(streaming.groupby("variant")):
            g = g.sort_values(lat)
            ax.plot(g[lat], g["rtf_mean"], marker="^", color=f"C{i + 2}", label=f"{variant}, streaming")
    ax.axhline(1.0, color="k", lw=1)
    ax.text(t["latency_ms"].max(), 1.08, "real time", ha="right", fontsize=9)
    ax.set(xscale="log", yscale="log", xlabel="latency = block length (ms)", ylabel="real-time factor",
           title="Real-time factor against latency")
    ax.set_xticks(list(t["latency_ms"]), [str(int(v)) for v in t["latency_ms"]])
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def _clip_audio(profile: str, run: str, kind: str, index: int) -> np.ndarray:
    """The index-th chosen test clip of a run ('original', 'resynth', 'intervened') as samples."""
    return sf.read(results_dir(profile) / run / load_metrics_json(profile, run)["clips"][index][kind])[0]


def plot_intervention_spectrograms(profile: str, index: int = 0):
    """Table 2: per instrument the DDX7 resynthesis beside the intervened rendering."""
    runs = table2_runs(profile)
    fig, axes = plt.subplots(len(runs), 2, figsize=(13, 3.0 * len(runs)))
    for row, (inst, run) in zip(axes, runs.items()):
        m = load_metrics_json(profile, run)
        for ax, kind in zip(row, ("resynth", "intervened")):
            label = "DDX7 resynthesis" if kind == "resynth" else m.get("intervention", {}).get("name", kind)
            spectrogram(_clip_audio(profile, run, kind, index), ax, fmax=6000, title=f"{inst}: {label}")
    fig.tight_layout()
    return fig


def plot_grid_spectrograms(profile: str, runs, rows: str = "imax", columns: str = "instrument", index: int = 0):
    """Spectrograms of each run's first chosen test clip, laid out like grid_players (plus the originals)."""
    df = metrics_table(profile, runs).reset_index()
    cols = list(dict.fromkeys(df[columns]))
    keys = ["original", *dict.fromkeys(df[rows])]
    fig, axes = plt.subplots(len(keys), len(cols), figsize=(4.6 * len(cols), 2.4 * len(keys)), squeeze=False)
    for j, col in enumerate(cols):
        for i, key in enumerate(keys):
            g = df[df[columns] == col] if key == "original" else df[(df[columns] == col) & (df[rows] == key)]
            ax = axes[i, j]
            if g.empty:
                ax.axis("off")
                continue
            kind = "original" if key == "original" else "resynth"
            spectrogram(_clip_audio(profile, g["run"].iloc[0], kind, index), ax, fmax=6000,
                        title=f"{col}: {key if key == 'original' else f'{rows} {key}'}")
    fig.tight_layout()
    return fig
