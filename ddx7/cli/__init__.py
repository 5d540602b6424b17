"""The ``ddx7`` command line: one module per command, each adding its subparser (``add_parser``)
with the function that runs it (``func``).

One error convention for every command: a user error (:class:`CLIError`, ``ValueError`` (the data
pipeline's ``DataError`` included) or ``OSError``) is printed as ``ddx7 <cmd>: error: <msg>``,
exit status 2; Ctrl-C as ``ddx7 <cmd>: interrupted``, exit status 130.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, book, data, evaluate, patches, render, resynth, runs, stream, train
from .arguments import CLIError

__all__ = ["CLIError", "build_parser", "main"]

COMMANDS = (patches, runs, render, data, train, evaluate, resynth, stream, bench, book)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddx7", description="DDX7: differentiable FM synthesis.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (CLIError, ValueError, OSError) as e:  # OSError: FileNotFoundError, PermissionError, a full disk
        print(f"ddx7 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ddx7 {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
