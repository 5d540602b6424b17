"""``ddx7 runs``: the experiment runs of Tables 1–4 under a profile; ``ddx7 promote``: a recipe experiment becomes
its run (ddx7.promote)."""

from __future__ import annotations

from ..runs import describe_run, list_runs


def add_parser(sub):
    p = sub.add_parser("runs", help="list the experiment runs of Tables 1–4")
    p.add_argument("--profile", default="quick")
    p.set_defaults(func=cmd_runs)
    add_promote_parser(sub)


def cmd_runs(args):
    import pandas as pd  # here, not at the top: every command (and `ddx7 --help`) imports this module

    table = pd.DataFrame([describe_run(n, args.profile) for n in list_runs()]).set_index("run")
    print(f"profile {args.profile}:")
    print(table.to_string())


def add_promote_parser(sub):
    p = sub.add_parser("promote", help="make a recipe experiment (<run>--<variant>) its grid run, once the profile's "
                                       "recipe is the experiment's")
    p.add_argument("experiment", help="the experiment, <run>--<variant> (ddx7/configs/experiments)")
    p.add_argument("--profile", default="full")
    p.add_argument("--archive", metavar="VARIANT",
                   help="keep the run it replaces as the experiment <run>--VARIANT (its config file must exist)")
    p.add_argument("--results", default="results", help="results root (default results)")
    p.add_argument("--checkpoints", default=None, help="checkpoint root (default checkpoints)")
    p.set_defaults(func=cmd_promote)


def cmd_promote(args):
    from ..promote import promote_experiment  # its PromoteError is a ValueError: one line, exit status 2

    moved = promote_experiment(args.experiment, args.profile, args.archive, args.results, args.checkpoints)
    for what, path in moved.items():
        print(f"{what}: {path}")
