"""Table 5 by the paper's procedure (``ddx7 bench rtf``; the streaming renderer's is :mod:`.rtf_streaming`)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import provenance as prov
from ..atomic import write_csv, write_json
from ..models import DDX7, HpN
from .rtf import paper_procedure, paper_table


def paper_models():
    torch.manual_seed(0)
    return {"ddx7": DDX7("violin-6osc", 2.0), "hpn": HpN()}


def run_rtf(profile: str = "quick", threads: int = 1, repeats: int = 100, results_root="results", progress=True):
    """Measure both models at every latency; write results/<profile>/rtf.csv (+ .json provenance)."""
    rows = paper_procedure(paper_models(), repeats=repeats, threads=threads, progress=progress)
    table = paper_table(rows)
    out = Path(results_root) / profile
    write_csv(out / "rtf.csv", table)
    write_json(out / "rtf.json", {"procedure": "paper (whole model re-run per excerpt of the latency's length)",
                                  "repeats": repeats, "models": {"ddx7": "violin-6osc, Imax 2", "hpn": "HpN"},
                                  **prov.provenance(threads)})
    return table

