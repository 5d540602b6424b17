"""FM patches as data: a modulation graph, the carriers and the frequency ratios.

Operators are numbered from 0 in code (OP1 of the DX7 manual is operator 0). ``modulators``
maps an operator to the operators that modulate it: ``{0: [1]}`` reads "OP2 → OP1".
Adding a patch is adding a row to ``_TABLE``; no patch has code of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Patch:
    """A fixed FM configuration: which operator modulates which, and each operator's ratio."""

    name: str
    modulators: dict[int, list[int]]
    carriers: list[int]
    ratios: list[float]
    instrument: str = "any"
    description: str = ""
    order: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        n = len(self.ratios)
        if n < 1:
            raise ValueError(f"patch {self.name!r}: needs at least one operator ratio")
        for r in self.ratios:
            if not (isinstance(r, (int, float)) and math.isfinite(r) and r > 0):
                raise ValueError(f"patch {self.name!r}: ratio {r!r} must be a positive finite number")
        if not self.carriers:
            raise ValueError(f"patch {self.name!r}: has no carrier")
        for op in list(self.carriers) + list(self.modulators):
            self._check_op(op, n)
        for dst, srcs in self.modulators.items():
            for src in srcs:
                self._check_op(src, n)
                if src == dst:
                    raise ValueError(f"patch {self.name!r}: OP{src + 1} modulates itself (feedback is not supported)")
        object.__setattr__(self, "modulators", {int(k): [int(s) for s in v] for k, v in self.modulators.items()})
        object.__setattr__(self, "carriers", [int(c) for c in self.carriers])
        object.__setattr__(self, "ratios", [float(r) for r in self.ratios])
        object.__setattr__(self, "order", self._topological_order())

    def _check_op(self, op, n):
        if not isinstance(op, int) or not 0 <= op < n:
            raise ValueError(
                f"patch {self.name!r}: unknown operator {op!r} (there are {n} ratios, operators 0..{n - 1})"
            )

    def _topological_order(self) -> tuple[int, ...]:
        """Operators ordered so that every modulator comes before what it modulates (top of stack first)."""
        order: list[int] = []
        state: dict[int, int] = {}  # 1 = visiting, 2 = done

        def visit(op: int, path: list[int]):
            if state.get(op) == 2:
                return
            if state.get(op) == 1:
                cycle = " → ".join(f"OP{o + 1}" for o in path[path.index(op):] + [op])
                raise ValueError(f"patch {self.name!r}: modulation cycle {cycle}")
            state[op] = 1
            for src in self.modulators.get(op, []):
                visit(src, path + [op])
            state[op] = 2
            order.append(op)

        for op in range(self.n_ops):
            visit(op, [])
        return tuple(order)

    @property
    def n_ops(self) -> int:
        return len(self.ratios)

    @property
    def modulator_ops(self) -> list[int]:
        """Operators that modulate some other operator."""
        return sorted({s for srcs in self.modulators.values() for s in srcs})

    def graph_str(self) -> str:
        """Edges as text, e.g. 'OP6→OP5, OP2→OP1'."""
        edges = [f"OP{s + 1}→OP{d + 1}" for d in sorted(self.modulators, reverse=True) for s in self.modulators[d]]
        return ", ".join(edges) if edges else "(no modulation)"

    def with_ratios(self, ratios) -> "Patch":
        """The same graph with other ratios (an intervention: no retraining needed)."""
        ratios = list(ratios)
        if len(ratios) != self.n_ops:
            raise ValueError(f"patch {self.name!r}: got {len(ratios)} ratios for {self.n_ops} operators")
        return replace(self, ratios=ratios)


# name, instrument, modulators (dst: [srcs], 0-based), carriers, ratios OP1..OPn
_TABLE = [
    ("violin-6osc", "violin", {0: [1], 2: [3], 3: [4], 4: [5]}, [0, 2], [1, 1, 1, 1, 3, 14],
     '6 operators, DX7 "STRINGS 1"'),
    ("flute-6osc", "flute", {0: [1, 2, 4], 2: [3], 4: [5]}, [0], [1, 1, 1, 2, 2, 1.5],
     '6 operators, DX7 "FLUTE 1"'),
    ("trumpet-6osc", "trumpet", {0: [1, 2, 3], 3: [4], 4: [5]}, [0], [1, 1, 1, 1, 3.2, 8.5],
     '6 operators, DX7 "BRASS 3"'),
    ("flute-4osc-y", "flute", {0: [1, 2], 2: [3]}, [0], [1, 1, 1, 2], '4 operators, "Y" shape'),
    ("trumpet-4osc-y", "trumpet", {0: [1, 2], 2: [3]}, [0], [1, 1, 1, 3.2], '4 operators, "Y" shape'),
    ("violin-4osc-1x4", "violin", {0: [1], 1: [2], 2: [3]}, [0], [1, 1, 3, 14], "4 operators, one stack of 4"),
    ("violin-4osc-2x2", "violin", {0: [1], 2: [3]}, [0, 2], [1, 1, 1, 1], "4 operators, two stacks of 2"),
    ("2osc", "any", {0: [1]}, [0], [1, 1], "2 operators, one modulator"),
]

PATCHES: dict[str, Patch] = {
    name: Patch(name, modulators=mods, carriers=car, ratios=rat, instrument=inst, description=desc)
    for name, inst, mods, car, rat, desc in _TABLE
}


def get_patch(name: str | Patch) -> Patch:
    """Look a patch up by name; a Patch passes through."""
    if isinstance(name, Patch):
        return name
    try:
        return PATCHES[name]
    except KeyError:
        raise ValueError(f"unknown patch {name!r}; known patches: {', '.join(PATCHES)}") from None


def parse_imax(value) -> float:
    """Imax as a number: accepts 2, 6.28, '2pi', '2π', '4*pi'."""
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        s = str(value).strip().lower().replace("π", "pi").replace("*", "")
        try:
            v = float(s[:-2] or 1) * math.pi if s.endswith("pi") else float(s)
        except ValueError:
            raise ValueError(f"cannot read Imax {value!r}; use a number, '2pi' or '4pi'") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"Imax must be positive and finite, got {value!r}")
    return v
