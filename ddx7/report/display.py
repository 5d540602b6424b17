"""How the book shows a table: no pandas index column, readable numbers."""

from __future__ import annotations

import math

import pandas as pd


def _number(v, digits: int) -> str:
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    if math.isfinite(v) and (v == round(v) and abs(v) >= 10 ** (digits - 1) or abs(v) >= 10 ** digits):
        return f"{v:,.0f}"  # more integer digits than significant ones: no exponent (1,754, not 1.75e+03)
    return f"{v:.{digits}g}"


def show(table: pd.DataFrame, digits: int = 4):
    """``table`` as a Styler without the pandas index column: a named index (e.g. ``run``, a pivot's rows)
    becomes the first column(s), MultiIndex columns are joined ("MSS · violin"), floats get ``digits``
    significant digits and missing values a dash."""
    out = table.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [" · ".join(str(x) for x in col if str(x)) for col in out.columns]
    if isinstance(out.index, pd.MultiIndex) or out.index.name is not None:
        out = out.reset_index()
    return out.style.hide(axis="index").format(lambda v: _number(v, digits), na_rep="—")
