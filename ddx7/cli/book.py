"""``ddx7 book``: execute the notebooks with papermill and build the Jupyter Book (:mod:`ddx7.book`)."""

from __future__ import annotations

from ..book import PROFILES, BookError, build_book, find_root
from ..pipeline import default_profile
from .arguments import CLIError


def add_parser(sub):
    p = sub.add_parser("book", help="execute the notebooks and build the Jupyter Book")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="smoke | quick | full (default: full if results/full/.complete exists, else quick)")
    p.add_argument("--only", metavar="NAME", action="append",
                   help="execute only this notebook (repeatable); the others keep their executed copies")
    p.add_argument("--no-strict", action="store_true", help="do not treat Sphinx warnings as errors")
    p.set_defaults(func=cmd_book)


def cmd_book(args):
    root = find_root()
    profile = args.profile or default_profile(root)
    try:
        build_book(profile, only=args.only, root=root, strict=not args.no_strict)
    except BookError as e:
        raise CLIError(str(e)) from None
