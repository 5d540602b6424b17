"""What a build tells its user, on stderr: one-line messages and progress bars."""

from __future__ import annotations

import sys


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress_bar(it, **kw):
    """``tqdm`` over ``it``, on stderr."""
    # imported here: `ddx7 --help` imports the builders (for their profile names), not tqdm
    from tqdm.auto import tqdm

    return tqdm(it, file=sys.stderr, dynamic_ncols=True, **kw)
