"""Train / valid / test split *by piece*, proportional to duration.

The reference code shuffles excerpts, so excerpts of one piece land in several sets and the test
set holds music the model was trained on. We assign whole pieces:

1. order the pieces by a seeded shuffle (``random.Random(seed)``, seed 1234 as in the paper);
2. give each piece, in that order, to the split whose share is furthest below its target
   (largest ``(target - assigned) / target`` of duration; ties go train, valid, test).

The first three pieces therefore go one to each split, so with 3 or more pieces no split is
empty, and the durations approach 75 / 12.5 / 12.5 % as pieces get many and short. With fewer
than 3 pieces (a folder of one or two recordings) we cannot split by piece: every piece is cut in
time instead (first 75 % of its excerpts -> train, next 12.5 % -> valid, last -> test) and the
manifest says ``"split_by": "time within piece"``.
"""

from __future__ import annotations

import random

SPLITS = ("train", "valid", "test")
FRACTIONS = (0.75, 0.125, 0.125)
SEED = 1234


def split_pieces(durations: dict, seed: int = SEED, fractions=FRACTIONS) -> dict:
    """{piece: seconds} -> {piece: split}. Deterministic for a seed and a set of pieces."""
    pieces = sorted(durations)
    random.Random(seed).shuffle(pieces)
    total = float(sum(durations.values())) or 1.0
    targets = [f * total for f in fractions]
    assigned = [0.0] * len(SPLITS)
    out = {}
    for p in pieces:
        deficits = [(t - a) / t if t > 0 else -1e9 for t, a in zip(targets, assigned)]
        k = max(range(len(SPLITS)), key=lambda i: (deficits[i], -i))
        out[p] = SPLITS[k]
        assigned[k] += float(durations[p])
    return out


def split_by_time(excerpts_per_piece: dict, fractions=FRACTIONS) -> dict:
    """{piece: [excerpt ids in time order]} -> {excerpt id: split}, cutting each piece in time."""
    out = {}
    for ids in excerpts_per_piece.values():
        n = len(ids)
        n_train = max(1, round(fractions[0] * n)) if n else 0
        n_valid = round(fractions[1] * n) if n >= 3 else 0
        if n >= 3 and n_valid == 0:
            n_valid = 1
        if n >= 3 and n - n_train - n_valid <= 0:
            n_train = n - n_valid - 1
        for i, e in enumerate(ids):
            out[e] = "train" if i < n_train else ("valid" if i < n_train + n_valid else "test")
    return out
