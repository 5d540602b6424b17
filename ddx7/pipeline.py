"""From nothing to ``results/<profile>/``: build the data, train, evaluate, write metrics.csv — only what is missing.

What the book's notebooks call before they show anything (``ensure_results``; the Table 5 benchmarks
``ensure_rtf``, ``ensure_streaming_rtf``). Paths are the repository's (:func:`find_root`): ``data/``,
``checkpoints/`` (or ``$DDX7_CHECKPOINTS``) and ``results/``, whatever the working directory.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd

from .checkpoints import CHECKPOINT_ROOT, is_finished
from .data import ensure_built
from .eval.bench import run_rtf
from .eval.evaluate import evaluate_run, write_metrics_csv
from .eval.rtf_streaming import run_streaming_benchmark
from .runs import list_runs, run_config
from .train import train_many

DATA = Path("data")
RESULTS = Path("results")


def find_root() -> Path:
    """The repository root: the nearest folder at/above the working directory (notebooks run in
    notebooks/) holding pyproject.toml and ddx7/; else the working directory."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").exists() and (p / "ddx7").is_dir():
            return p
    return here


def default_profile(root: Path | None = None) -> str:
    """The book's profile unless told: `full` once the full results are committed (results/full/.complete),
    else `quick`."""
    return "full" if ((root or find_root()) / RESULTS / "full" / ".complete").exists() else "quick"


def results_dir(profile: str, root: Path | None = None) -> Path:
    return (root or find_root()) / RESULTS / profile


def ensure_results(profile: str, runs=None, compute: bool = False, log=None, root: Path | None = None) -> list[str]:
    """Build the data, train and evaluate whatever of ``runs`` (default: every run) has no metrics yet, or
    all of them with ``compute``; refresh metrics.csv. Returns the runs done now. ``log`` receives one line
    per step (default: printed at the end)."""
    root = Path(root) if root else find_root()
    runs = list(runs or list_runs())
    data_root, checkpoint_root, results_root = root / DATA, root / CHECKPOINT_ROOT, root / RESULTS
    missing = [r for r in runs if compute or not (results_root / profile / r / "metrics.json").exists()]
    if not missing:
        return []
    lines: list[str] = []
    log = log or lines.append
    try:
        for instrument in sorted({run_config(r, profile)["data"]["instrument"] for r in missing}):
            with contextlib.redirect_stderr(io.StringIO()):  # progress bars: the manifest records the build
                manifest = ensure_built(profile, instrument, root=data_root)
            log(f"data {profile}/{instrument}: manifest {manifest['manifest_hash'][:12]}")
        to_train = [r for r in missing if compute or not is_finished(r, profile, checkpoint_root)]
        for s in train_many(to_train, profile, jobs=2, restart=compute, data_root=data_root,
                            out_root=checkpoint_root):
            log(f"trained {s['run']}: {s['step']} steps, best valid MSS {s['best_valid']:.3f}, {s['wall_s']:.0f} s")
        for r in missing:
            m = evaluate_run(r, profile, data_root, checkpoint_root, results_root, progress=False)
            log(f"evaluated {r}: MSS {m['mss']:.3f}")
        write_metrics_csv(profile, results_root)
    finally:
        if lines:
            print("\n".join(lines))
    return missing


def ensure_rtf(profile: str, repeats: int = 100, threads: int = 1, compute: bool = False,
               root: Path | None = None) -> pd.DataFrame:
    """results/<profile>/rtf.csv (the paper's procedure, ours beside the paper's), measured if missing."""
    path = results_dir(profile, root) / "rtf.csv"
    if compute or not path.exists():
        run_rtf(profile, threads, repeats, path.parent.parent, progress=False)
    return pd.read_csv(path)


def ensure_streaming_rtf(profile: str, threads: int = 1, compute: bool = False,
                         root: Path | None = None) -> pd.DataFrame:
    """results/<profile>/rtf_streaming.csv (the streaming renderer), measured if missing."""
    path = results_dir(profile, root) / "rtf_streaming.csv"
    if compute or not path.exists():
        run_streaming_benchmark(profile, path.parent, threads=threads, progress=False, verbose=False)
    return pd.read_csv(path)
