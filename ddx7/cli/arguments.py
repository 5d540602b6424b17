"""What the commands share: the user-error type and the parsing of comma-separated options."""

from __future__ import annotations

import math


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def comma_floats(text: str | None, what: str) -> list[float] | None:
    """``"1,0.5"`` → ``[1.0, 0.5]``; None when the option ``what`` was not given (``text`` empty)."""
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise CLIError(f"{what} must be finite numbers, got {text!r}")
    return values
