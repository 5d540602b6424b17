"""Table 5 by the paper's procedure (``ddx7 bench rtf``; the streaming renderer's is :mod:`.rtf_streaming`)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import provenance as prov
from ..atomic import write_csv, write_json
from ..models import build_model
from ..runs import model_kwargs, run_config
from .rtf import paper_procedure, paper_table

# Table 5's models: the violin pair of Table 1, built as the profile trains them (untrained weights: the cost of a
# forward pass does not depend on their values), so that a deviation such as model.oversample is timed too.
TABLE5_RUNS = {"ddx7": "violin-6osc-imax2", "hpn": "hpn-violin"}


def table5_models(profile: str, seed: int = 0) -> dict:
    """{"ddx7": model, "hpn": model} in eval mode, each built from its TABLE5_RUNS config under ``profile``."""
    torch.manual_seed(seed)
    return {kind: build_model(model_kwargs(run_config(run, profile))).eval() for kind, run in TABLE5_RUNS.items()}


def describe_models(profile: str) -> dict:
    """{"ddx7": "violin-6osc-imax2 (profile full: {...model config...})", ...} for a benchmark's provenance."""
    out = {}
    for kind, run in TABLE5_RUNS.items():
        m = {k: v for k, v in run_config(run, profile)["model"].items() if k not in ("kind", "dropout")}
        out[kind] = f"{run} as the {profile} profile trains it: {m}"
    return out


def run_rtf(profile: str = "quick", threads: int = 1, repeats: int = 100, results_root="results", progress=True):
    """Measure both models at every latency; write results/<profile>/rtf.csv (+ .json provenance)."""
    rows = paper_procedure(table5_models(profile), repeats=repeats, threads=threads, progress=progress)
    table = paper_table(rows)
    out = Path(results_root) / profile
    write_csv(out / "rtf.csv", table)
    write_json(out / "rtf.json", {"procedure": "paper (whole model re-run per excerpt of the latency's length)",
                                  "repeats": repeats, "models": describe_models(profile),
                                  **prov.provenance(threads)})
    return table

