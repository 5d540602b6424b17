"""Figures shared by the notebooks: patch graphs, spectrograms, sideband plots."""

from __future__ import annotations

import numpy as np

from . import SAMPLE_RATE
from .synth.patches import Patch, get_patch


def patch_layout(patch: Patch) -> dict[int, tuple[float, int]]:
    """(x, level) of every operator: carriers on level 0, each modulator one level above its target;
    stacks side by side, a node's modulators spread over adjacent columns."""
    patch = get_patch(patch)
    pos: dict[int, tuple[float, int]] = {}
    next_col = [0]

    def place(op: int, level: int) -> float:
        srcs = patch.modulators.get(op, [])
        if not srcs:
            x = float(next_col[0])
            next_col[0] += 1
        else:
            xs = [place(s, level + 1) for s in srcs]
            x = float(np.mean(xs))
        pos[op] = (x, level)
        return x

    for c in patch.carriers:
        place(c, 0)
    for op in range(patch.n_ops):  # operators that reach no carrier still get drawn
        if op not in pos:
            place(op, 0)
    return pos


def draw_patch(patch, ax=None, ratios=None, title=True):
    """Draw the operator graph: boxes 'OPk ×ratio', arrows for modulation, carriers summed to out."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    patch = get_patch(patch)
    ratios = patch.ratios if ratios is None else ratios
    ax = ax or plt.gca()
    pos = patch_layout(patch)
    w, h = 0.7, 0.5
    for dst, srcs in patch.modulators.items():
        for s in srcs:
            (x0, y0), (x1, y1) = pos[s], pos[dst]
            ax.annotate("", xy=(x1, y1 + h / 2), xytext=(x0, y0 - h / 2),
                        arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.4))
    carrier_x = [pos[c][0] for c in patch.carriers]
    out_x = float(np.mean(carrier_x))
    for c in patch.carriers:
        x, y = pos[c]
        ax.annotate("", xy=(out_x, -0.95), xytext=(x, y - h / 2), arrowprops=dict(arrowstyle="-|>", color="C3", lw=1.4))
    ax.text(out_x, -1.1, "out", ha="center", va="top", color="C3", fontsize=10)
    for op, (x, y) in pos.items():
        carrier = op in patch.carriers
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03",
                                    fc="#fde0dc" if carrier else "#dce9fd", ec="C3" if carrier else "C0", lw=1.5))
        ax.text(x, y + 0.07, f"OP{op + 1}", ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x, y - 0.13, f"×{ratios[op]:g}", ha="center", va="center", fontsize=9)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-1.5, max(ys) + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(patch.name, fontsize=11)
    return ax


def spectrogram(audio, ax=None, sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, hop: int = 128,
                fmax: float | None = None, title: str | None = None):
    """Log-magnitude spectrogram in dB (0 dB = the loudest bin), time in s, frequency in Hz."""
    import matplotlib.pyplot as plt

    audio = np.asarray(audio, dtype=np.float64)
    ax = ax or plt.gca()
    window = np.hanning(n_fft)
    n_frames = max(1, 1 + (len(audio) - n_fft) // hop)
    frames = np.stack([audio[i * hop: i * hop + n_fft] for i in range(n_frames)]) if len(audio) >= n_fft else \
        np.pad(audio, (0, n_fft - len(audio)))[None]
    mag = np.abs(np.fft.rfft(frames * window, axis=1)).T
    db = 20 * np.log10(mag / (mag.max() + 1e-12) + 1e-6)
    extent = (0, len(audio) / sample_rate, 0, sample_rate / 2)
    im = ax.imshow(db, origin="lower", aspect="auto", extent=extent, vmin=-80, vmax=0, cmap="magma")
    ax.set_ylim(0, fmax or sample_rate / 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=11)
    return im


def line_spectrum(audio, sample_rate: int = SAMPLE_RATE):
    """Amplitude spectrum (peak amplitude per sinusoid) and its frequencies, rectangular window."""
    audio = np.asarray(audio, dtype=np.float64)
    return np.fft.rfftfreq(len(audio), 1 / sample_rate), np.abs(np.fft.rfft(audio)) * 2 / len(audio)


def draw_architecture(path=None):
    """The DDX7 signal chain as a figure: controls → TCN → envelopes → FM patch → reverb → audio."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 2.6))
    boxes = [
        (0.0, "f0 (Hz)\nloudness (dB)\n250 frames/s", "#eeeeee"),
        (2.3, "TCN decoder\n5 causal dilated blocks\n128 ch · ≈400k params", "#dce9fd"),
        (4.6, "envelopes\na_k = max_ol·σ(z_k)\none per operator", "#e4f4dc"),
        (6.9, "FM synth\nfixed patch + ratios\nImax = 2π·max_ol", "#fde0dc"),
        (9.2, "learnable reverb\n1 s IR, dry at init", "#f3e6fa"),
    ]
    w, h = 1.9, 1.3
    for x, text, color in boxes:
        ax.add_patch(FancyBboxPatch((x, 0), w, h, boxstyle="round,pad=0.05", fc=color, ec="0.3", lw=1.2))
        ax.text(x + w / 2, h / 2, text, ha="center", va="center", fontsize=9.5)
    for (x0, *_), (x1, *_) in zip(boxes, boxes[1:]):
        ax.annotate("", xy=(x1 - 0.05, h / 2), xytext=(x0 + w + 0.05, h / 2),
                    arrowprops=dict(arrowstyle="-|>", color="0.2", lw=1.5))
    ax.annotate("", xy=(11.75, h / 2), xytext=(9.2 + w + 0.05, h / 2), arrowprops=dict(arrowstyle="-|>", lw=1.5))
    ax.text(11.8, h / 2, "audio\n16 kHz", va="center", fontsize=9.5)
    ax.annotate("", xy=(7.85, h + 0.07), xytext=(0.95, h + 0.07),
                arrowprops=dict(arrowstyle="-|>", color="C3", lw=1, connectionstyle="arc3,rad=-0.12"))
    ax.text(4.4, h + 0.62, "f0 sets the operators' phases", ha="center", fontsize=8.5, color="C3")
    ax.set_xlim(-0.2, 12.6)
    ax.set_ylim(-0.2, 2.2)
    ax.axis("off")
    fig.tight_layout()
    if path:
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
    return fig


def draw_all_patches(path=None):
    """Every registered patch's graph in one figure."""
    import matplotlib.pyplot as plt

    from .synth.patches import PATCHES

    fig, axes = plt.subplots(2, 4, figsize=(12, 6.5))
    for ax, name in zip(axes.flat, PATCHES):
        draw_patch(name, ax)
    fig.tight_layout()
    if path:
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
    return fig


if __name__ == "__main__":
    import sys

    import matplotlib

    matplotlib.use("Agg")
    figures = {"architecture": draw_architecture, "patches": draw_all_patches}
    if len(sys.argv) == 3 and sys.argv[1] in figures:
        figures[sys.argv[1]](sys.argv[2])
    else:
        sys.exit(f"usage: python -m ddx7.plots {{{'|'.join(figures)}}} OUT.svg")
