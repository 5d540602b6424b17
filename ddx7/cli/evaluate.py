"""``ddx7 eval``: evaluate trained runs on the test set → ``results/<profile>/<run>/``."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import run_dir
from ..eval.evaluate import DEFAULT_EMBEDDINGS, evaluate_run, write_metrics_csv
from ..runs import list_runs


def add_parser(sub):
    p = sub.add_parser("eval", help="evaluate trained runs on the test set → results/<profile>/<run>/")
    p.add_argument("run", nargs="?")
    p.add_argument("--all", action="store_true", help="every trained run of the profile")
    p.add_argument("--profile", default="quick")
    p.add_argument("--data-root", default="data")
    p.add_argument("--checkpoints", default=None)
    p.add_argument("--results", default="results")
    p.add_argument("--embeddings", default=",".join(DEFAULT_EMBEDDINGS),
                   help="comma-separated: aisfx, mfcc, vggish (vggish needs --vggish-weights)")
    p.add_argument("--vggish-weights", default=None, help="a VGGish state_dict file you supply")
    p.add_argument("--skip-done", action="store_true", help="skip runs whose metrics.json is newer than best.pt")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("eval-unseen", help="Table 1 models on phrases from another soundfont and performance "
                                           "→ results/<profile>/unseen/")
    p.add_argument("--profile", default="full")
    p.add_argument("--data-root", default="data")
    p.add_argument("--results", default="results")
    p.add_argument("--soundfont", default=None, help="default: Debian's TimGM6mb (apt install timgm6mb-soundfont)")
    p.add_argument("--seconds", type=float, default=8.0, help="length of each phrase")
    p.add_argument("--name", default=None,
                   help="output folder under results/<profile>/ (default: unseen, with --all-runs unseen-all); "
                        "e.g. unseen-csound for --soundfont /usr/share/sounds/sf2/sf_GMbank.sf2 "
                        "(apt install csound-soundfont)")
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="these DDX7 runs (grid runs or experiments) against their instrument's HpN, tables only; "
                        "needs --name")
    p.add_argument("--all-runs", action="store_true",
                   help="every DDX7 run of the grid against its instrument's HpN → results/<profile>/unseen-all/ "
                        "(tables only)")
    p.add_argument("--step", type=int, default=None, metavar="N",
                   help="with --runs: each run's snapshot at training step N (train.snapshot_steps) instead of its "
                        "best checkpoint; HpN keeps its best")
    p.set_defaults(func=cmd_eval_unseen)
    p = sub.add_parser("eval-oracle", help="Table 1 DDX7 models with free envelopes (how far a better decoder "
                                           "could go) → results/<profile>/oracle/")
    p.add_argument("--profile", default="full")
    p.add_argument("--data-root", default="data")
    p.add_argument("--results", default="results")
    p.add_argument("--excerpts", type=int, default=8, help="test excerpts per instrument, evenly spaced")
    p.add_argument("--steps", type=int, default=400, help="Adam steps of the envelope fit")
    p.add_argument("--pool", type=int, default=5, help="frames per free control point (5 = 20 ms)")
    p.add_argument("--unseen", action="store_true",
                   help="fit eval-unseen's phrases instead of test excerpts → results/<profile>/oracle-unseen/")
    p.add_argument("--soundfont", default=None, help="with --unseen: the phrases' soundfont (default TimGM6mb)")
    p.add_argument("--name", default=None, help="output folder under results/<profile>/ (default: oracle, "
                                                "with --unseen oracle-unseen)")
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="these DDX7 runs (grid runs or experiments) against their instrument's HpN")
    p.add_argument("--all-runs", action="store_true", help="every DDX7 run of the grid, not only Table 1's")
    p.add_argument("--instruments", default=None, help="comma-separated; default: all three")
    p.set_defaults(func=cmd_eval_oracle)


def cmd_eval(args):
    if bool(args.run) == bool(args.all):
        raise ValueError("give one RUN or --all")
    embeddings = [e.strip() for e in args.embeddings.split(",") if e.strip()]
    if args.vggish_weights and "vggish" not in embeddings:
        embeddings.append("vggish")
    names = list_runs() if args.all else [args.run]
    for name in names:
        best = run_dir(name, args.profile, args.checkpoints) / "best.pt"
        if not best.exists():
            if args.all:
                print(f"{name}: not trained for profile {args.profile}, skipped")
                continue
            raise FileNotFoundError(f"{name}: no checkpoint {best}; train it first: ddx7 train {name} "
                                    f"--profile {args.profile}")
        done = Path(args.results) / args.profile / name / "metrics.json"
        if args.skip_done and done.exists() and done.stat().st_mtime > best.stat().st_mtime:
            print(f"{name}: evaluated, skipped")
            continue
        m = evaluate_run(name, args.profile, args.data_root, args.checkpoints, args.results, embeddings,
                         args.vggish_weights)
        fads = ", ".join(f"{k} {v['fad']:.3f}" for k, v in m["fad"].items() if v.get("fad") is not None)
        print(f"{name}: MSS {m['mss']:.3f}, FAD {fads}, f0 {m['f0_median_abs_cents']:.1f} cents, "
              f"loudness {m['loudness_mean_abs_db']:.1f} dB")
    if write_metrics_csv(args.profile, args.results):
        print(f"wrote {Path(args.results) / args.profile / 'metrics.csv'}")


def cmd_eval_unseen(args):
    from ..eval.unseen import evaluate_unseen, summary, summary_by_run
    from ..paper import grid_pairs, runs_pairs, table1_pairs

    if args.runs and not args.name:
        raise ValueError("--runs needs --name NAME: the folder under results/<profile>/ to write the tables to")
    if args.step is not None and not args.runs:
        raise ValueError("--step needs --runs RUN ...: the runs whose snapshots to resynthesise with")
    if args.all_runs or args.runs:
        name = args.name or "unseen-all"
        pairs = runs_pairs(args.runs, args.profile) if args.runs else grid_pairs(args.profile)
        table = evaluate_unseen(pairs, args.profile, args.data_root, args.results,
                                args.soundfont, args.seconds, name=name, keep_audio=False, step=args.step)
        for _, r in summary_by_run(table).iterrows():
            print(f"{r['run']}: mean MSS {r['MSS']:.2f} / HpN {r['MSS HpN']:.2f} = {r['MSS ratio']:.2f}x")
    else:
        name = args.name or "unseen"
        table = evaluate_unseen(table1_pairs(args.profile), args.profile, args.data_root, args.results,
                                args.soundfont, args.seconds, name=name)
        for _, r in summary(table).iterrows():
            print(f"{r['instrument']}: {r['phrases']} phrases, mean MSS DDX7 {r['MSS DDX7']:.2f} / HpN "
                  f"{r['MSS HpN']:.2f} = {r['MSS ratio']:.2f}x")
    print(f"wrote {Path(args.results) / args.profile / name}")


def cmd_eval_oracle(args):
    from ..eval.oracle import evaluate_oracle, oracle_folder
    from ..paper import grid_pairs, runs_pairs, table1_pairs

    if args.runs:
        pairs = runs_pairs(args.runs, args.profile)
    else:
        pairs = (grid_pairs if args.all_runs else table1_pairs)(args.profile)
    if args.instruments:
        wanted = [i.strip() for i in args.instruments.split(",") if i.strip()]
        unknown = sorted(set(wanted) - set(pairs))
        if unknown:
            raise ValueError(f"--instruments: unknown {', '.join(unknown)}; known: {', '.join(pairs)}")
        pairs = {i: pairs[i] for i in wanted}
    evaluate_oracle(pairs, args.profile, args.data_root, args.results, args.excerpts, args.steps, args.pool,
                    unseen=args.unseen, soundfont=args.soundfont, name=args.name)
    print(f"wrote {Path(args.results) / args.profile / oracle_folder(args.unseen, args.name)}")
