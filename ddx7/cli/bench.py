"""``ddx7 bench rtf``: Table 5 by the paper's procedure, and (with ``--streaming``) the streaming renderer;
``ddx7 bench train``: a training step's parts, ours beside a straightforward one; ``ddx7 bench denormals``:
a trained state's step with float32 denormals kept and flushed."""

from __future__ import annotations

from pathlib import Path

from .. import provenance as prov
from ..atomic import write_json
from ..eval.bench import run_rtf
from ..eval.rtf_streaming import run_streaming_benchmark
from .arguments import CLIError


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
    p = bsub.add_parser("train", help="time a training step's parts: ours beside a straightforward one")
    p.add_argument("--model", choices=("ddx7", "hpn"), default="ddx7",
                   help="ddx7: violin-6osc, Imax 2; hpn: the GRU-512 baseline (ignored with --run)")
    p.add_argument("--run", help="take the model and loss from this run's config (see `ddx7 runs`)")
    p.add_argument("--profile", default="paper", help="the profile of --run's config (e.g. full: batch 4 × 2 s)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seconds", type=float, default=4.0, help="excerpt length")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--bf16", action="store_true",
                   help="our decoder under bf16 autocast (train.precision: bf16; the straightforward step stays fp32)")
    p.add_argument("--out", metavar="FILE.json", help="also write the table, rates and provenance to this file")
    p.set_defaults(func=cmd_train)
    p = bsub.add_parser("denormals", help="a training checkpoint's step with float32 denormals kept and flushed")
    p.add_argument("checkpoint", help="a run's last.pt (weights and Adam state), e.g. checkpoints/full/<run>/last.pt")
    p.add_argument("--profile", default="full", help="the profile the run was trained under")
    p.add_argument("--data", default="data", help="data root (the run's training crops)")
    p.add_argument("--steps", type=int, default=4, help="steps per mode and repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", metavar="FILE.json", help="also write the table, counts and provenance to this file")
    p.set_defaults(func=cmd_denormals)


def cmd_rtf(args):
    import pandas as pd  # here, not at the top: every command (and `ddx7 --help`) imports this module

    table = run_rtf(args.profile, args.threads, args.repeats, args.results)
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(f"Real-time factor, paper procedure, {args.threads} thread(s), {prov.cpu_model()}")
        print(table.to_string(index=False))
    if args.streaming:
        run_streaming_benchmark(args.profile, Path(args.results) / args.profile, threads=args.threads)


def cmd_train(args):
    # here, not at the top: it imports pandas, and every command (and `ddx7 --help`) imports this module
    from ..eval.bench_train import bench_record, format_train_bench, run_train_bench

    if args.out and not args.out.endswith(".json"):
        raise CLIError(f"--out {args.out}: give a .json file name")
    bench = run_train_bench(args.model, args.batch, args.seconds, args.run, args.threads, args.repeats,
                            profile=args.profile, bf16=args.bf16)
    print(format_train_bench(bench))
    if args.out:
        write_json(args.out, bench_record(bench))
        print(f"wrote {args.out}")


def cmd_denormals(args):
    import torch

    from ..bench_denormals import denormal_bench_record, format_denormal_bench, run_denormal_bench  # pandas

    if args.out and not args.out.endswith(".json"):
        raise CLIError(f"--out {args.out}: give a .json file name")
    if not Path(args.checkpoint).is_file():
        raise CLIError(f"{args.checkpoint}: no such checkpoint; give a run's last.pt (`ddx7 train` writes it)")
    torch.set_num_threads(args.threads)
    table, info = run_denormal_bench(args.checkpoint, args.profile, args.data, args.steps, args.repeats)
    print(format_denormal_bench(table, info))
    if args.out:
        write_json(args.out, denormal_bench_record(table, info))
        print(f"wrote {args.out}")
