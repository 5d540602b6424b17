"""``ddx7 bench rtf``: Table 5 by the paper's procedure, and (with ``--streaming``) the streaming renderer."""

from __future__ import annotations

from pathlib import Path

from .. import provenance as prov
from ..eval.bench import run_rtf
from ..eval.rtf_streaming import run_streaming_benchmark


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
    import pandas as pd  # here, not at the top: every command (and `ddx7 --help`) imports this module

    table = run_rtf(args.profile, args.threads, args.repeats, args.results)
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(f"Real-time factor, paper procedure, {args.threads} thread(s), {prov.cpu_model()}")
        print(table.to_string(index=False))
    if args.streaming:
        run_streaming_benchmark(args.profile, Path(args.results) / args.profile, threads=args.threads)
