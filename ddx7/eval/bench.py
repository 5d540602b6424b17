"""`ddx7 bench rtf`: Table 5 by the paper's procedure, and (with --streaming) the streaming renderer."""

from __future__ import annotations

from pathlib import Path

from .. import provenance as prov
from ..atomic import write_csv, write_json


def paper_models():
    import torch

    from ..models import DDX7, HpN

    torch.manual_seed(0)
    return {"ddx7": DDX7("violin-6osc", 2.0), "hpn": HpN()}


def run_rtf(profile: str = "quick", threads: int = 1, repeats: int = 100, results_root="results", progress=True):
    """Measure both models at every latency; write results/<profile>/rtf.csv (+ .json provenance)."""
    from .rtf import paper_procedure, paper_table

    rows = paper_procedure(paper_models(), repeats=repeats, threads=threads, progress=progress)
    table = paper_table(rows)
    out = Path(results_root) / profile
    write_csv(out / "rtf.csv", table)
    write_json(out / "rtf.json", {"procedure": "paper (whole model re-run per excerpt of the latency's length)",
                                  "repeats": repeats, "models": {"ddx7": "violin-6osc, Imax 2", "hpn": "HpN"},
                                  **prov.provenance(threads)})
    return table


def add_parser(sub):
    bench = sub.add_parser("bench", help="benchmarks")
    bsub = bench.add_subparsers(dest="bench", required=True)
    p = bsub.add_parser("rtf", help="real-time factor: the paper's procedure (Table 5), and --streaming")
    p.add_argument("--profile", default="quick", help="results/<profile>/ receives rtf.csv")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--streaming", action="store_true", help="also benchmark the streaming renderer")
    p.add_argument("--results", default="results")
    p.set_defaults(func=cmd_rtf)


def cmd_rtf(args):
    import pandas as pd

    table = run_rtf(args.profile, args.threads, args.repeats, args.results)
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(f"Real-time factor, paper procedure, {args.threads} thread(s), {prov.cpu_model()}")
        print(table.to_string(index=False))
    if args.streaming:
        from .rtf_streaming import run_streaming_benchmark

        run_streaming_benchmark(args.profile, Path(args.results) / args.profile, threads=args.threads)
