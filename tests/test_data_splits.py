"""Piece-level splits."""

import numpy as np
import pytest

from ddx7.data.splits import SPLITS, split_by_time, split_pieces


def test_split_by_piece_is_deterministic_and_proportional():
    rng = np.random.default_rng(3)
    durations = {f"piece{i:02d}": float(d) for i, d in enumerate(rng.uniform(20, 120, 40))}
    a = split_pieces(durations, seed=1234)
    assert a == split_pieces(dict(reversed(list(durations.items()))), seed=1234)
    assert a != split_pieces(durations, seed=1)
    assert set(a) == set(durations) and set(a.values()) == set(SPLITS)
    total = sum(durations.values())
    share = {s: sum(d for p, d in durations.items() if a[p] == s) / total for s in SPLITS}
    assert share["train"] == pytest.approx(0.75, abs=0.05)
    assert share["valid"] == pytest.approx(0.125, abs=0.04)
    assert share["test"] == pytest.approx(0.125, abs=0.04)


@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_few_pieces_fill_every_split(n):
    a = split_pieces({f"p{i}": 10.0 for i in range(n)})
    assert set(a.values()) == set(SPLITS)


def test_split_by_time_within_piece():
    ids = {"only": [f"e{i}" for i in range(8)]}
    s = split_by_time(ids)
    assert [s[f"e{i}"] for i in range(8)] == ["train"] * 6 + ["valid", "test"]
    assert set(split_by_time({"a": ["x", "y"]}).values()) == {"train"}
