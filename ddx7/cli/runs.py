"""``ddx7 runs``: the experiment runs of Tables 1–4 under a profile."""

from __future__ import annotations

from ..runs import describe_run, list_runs


def add_parser(sub):
    p = sub.add_parser("runs", help="list the experiment runs of Tables 1–4")
    p.add_argument("--profile", default="quick")
    p.set_defaults(func=cmd_runs)


def cmd_runs(args):
    import pandas as pd  # here, not at the top: every command (and `ddx7 --help`) imports this module

    table = pd.DataFrame([describe_run(n, args.profile) for n in list_runs()]).set_index("run")
    print(f"profile {args.profile}:")
    print(table.to_string())
