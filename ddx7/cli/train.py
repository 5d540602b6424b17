"""``ddx7 train``: train one run, or the grid with ``--all`` (resuming unfinished runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch.distributed as dist

from ..checkpoints import CHECKPOINT_ROOT, is_finished, readable_checkpoint, run_dir
from ..eval.evaluate import write_metrics_csv
from ..runs import config_changes, list_runs, run_config
from ..train import train_many


def add_parser(sub):
    p = sub.add_parser("train", help="train one run, or the whole grid with --all (resumes unfinished runs)")
    p.add_argument("run", nargs="?", help="run name (see `ddx7 runs`)")
    p.add_argument("--all", action="store_true", help="train every run, skipping finished ones")
    p.add_argument("--profile", default="quick")
    p.add_argument("--data-root", default="data")
    p.add_argument("--out", default=None, help=f"checkpoint root (default {CHECKPOINT_ROOT})")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--restart", action="store_true", help="discard existing checkpoints of the run")
    p.add_argument("--resume", action="store_true", help="require an existing checkpoint to continue from")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many more steps")
    p.add_argument("--jobs", type=int, default=1,
                   help="with --all: train this many runs at once, one torch thread each (2 on a 2-core machine: "
                        "small-batch CPU training scales better across processes than across threads)")
    p.add_argument("--eval", action="store_true",
                   help="evaluate each run (as `ddx7 eval`) as soon as it has finished training")
    p.add_argument("--results", default="results", help="results root for --eval")
    p.set_defaults(func=cmd_train)


def runs_to_train(args) -> list[str]:
    """The runs of ``RUN`` / ``--all`` that still need training (finished ones are reported and skipped)."""
    if bool(args.run) == bool(args.all):
        raise ValueError("give one RUN or --all")
    names = list_runs() if args.all else [args.run]
    run_config(names[0], args.profile)  # unknown run/profile → clear error before any work
    todo, stale = [], []
    for name in names:
        if is_finished(name, args.profile, args.out) and not args.restart:
            changes = trained_config_changes(name, args.profile, args.out)
            if changes:
                stale.append(f"{name} ({'; '.join(changes)})")
                continue
            print(f"{name}: finished, skipped")
            continue
        if args.resume and not (run_dir(name, args.profile, args.out) / "last.pt").exists():
            raise ValueError(f"--resume: no checkpoint for {name} in {run_dir(name, args.profile, args.out)}")
        todo.append(name)
    if stale:
        raise ValueError(f"finished with another config than today's: {', '.join(stale)}; train them again "
                         "with --restart (one RUN at a time), or move their checkpoint directories away")
    return todo


def trained_config_changes(name: str, profile: str, root=None) -> list[str]:
    """How the config a finished run was trained with differs from its config today (runs.config_changes)."""
    ckpt = readable_checkpoint(run_dir(name, profile, root) / "last.pt") or {}
    return config_changes(ckpt.get("run_config"), run_config(name, profile))


def print_summary(summary: dict) -> None:
    print(f"{summary['run']}: step {summary['step']}, best valid MSS {summary['best_valid']:.4f}, "
          f"{summary['wall_s']:.0f} s on {summary['device']} × {summary['threads']} threads", flush=True)
    if "eval" in summary:
        fads = ", ".join(f"{k} {v:.3f}" for k, v in summary["eval"]["fad"].items() if v is not None)
        print(f"{summary['run']}: evaluated: test MSS {summary['eval']['mss']:.3f}, FAD {fads} "
              f"({summary['eval']['eval_wall_s']:.0f} s)", flush=True)


def cmd_train(args):
    summaries = train_many(runs_to_train(args), args.profile, jobs=args.jobs, threads=args.threads,
                           data_root=args.data_root, out_root=args.out, device=args.device, restart=args.restart,
                           max_steps=args.max_steps, evaluate=args.eval, results_root=args.results)
    try:
        for summary in summaries:
            rank0 = summary.get("world_size", 1) == 1 or dist.get_rank() == 0
            if summary.get("interrupted"):  # 130: the shell's status for SIGINT
                if rank0:
                    at = "" if summary["step"] is None else f" at step {summary['step']}"
                    print(f"{summary['run']}: interrupted{at}; rerun to resume", file=sys.stderr)
                return 130
            if rank0:
                print_summary(summary)
        if args.eval and write_metrics_csv(args.profile, args.results):
            print(f"wrote {Path(args.results) / args.profile / 'metrics.csv'}")
    except KeyboardInterrupt:  # outside a training step (--jobs parent, data loading, eval): checkpoints intact
        print("interrupted; rerun to resume", file=sys.stderr)
        return 130
    finally:
        summaries.close()  # now, not at garbage collection: --jobs workers stop, queued runs do not start
        if dist.is_initialized():
            dist.destroy_process_group()
