"""``ddx7 patches``: the FM patches as a table."""

from __future__ import annotations

from ..synth import PATCHES


def add_parser(sub):
    p = sub.add_parser("patches", help="list the FM patches")
    p.set_defaults(func=cmd_patches)


def cmd_patches(args):
    rows = [("name", "instrument", "ops", "graph", "carriers", "ratios OP1..OPn")]
    for p in PATCHES.values():
        rows.append((p.name, p.instrument, str(p.n_ops), p.graph_str(), ", ".join(f"OP{c + 1}" for c in p.carriers),
                     ", ".join(f"{r:g}" for r in p.ratios)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
