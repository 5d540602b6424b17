"""The paper's tables as this project reproduces them: which runs, in which order, and the paper's numbers.

Table membership is each run's ``tables:`` list (``configs/runs/*.yaml``); the rest (the order of a
table's instruments, the paper's choices and values) is ``configs/paper.yaml``, parsed by :func:`paper`.
"""

from __future__ import annotations

import copy
import functools

import yaml

from .runs import CONFIG_DIR, list_runs, run_config

PAPER_FILE = CONFIG_DIR / "paper.yaml"


@functools.lru_cache(maxsize=1)
def _parsed() -> dict:
    return yaml.safe_load(PAPER_FILE.read_text())


def paper() -> dict:
    """configs/paper.yaml as a dict (a copy: callers may change it)."""
    return copy.deepcopy(_parsed())


def table_runs(table: int, profile: str = "quick") -> list[str]:
    """The runs whose config lists ``table``, by the table's instrument order (paper.yaml), then by name."""
    order = {inst: i for i, inst in enumerate(paper()[f"table{table}"]["instruments"])}
    found = []
    for run in list_runs():
        cfg = run_config(run, profile)
        if table in cfg.get("tables", []):
            inst = cfg["data"]["instrument"]
            if inst not in order:
                raise ValueError(f"run {run} lists table {table}, whose instruments (paper.yaml) lack {inst!r}")
            found.append((order[inst], run))
    return [run for _, run in sorted(found)]


def _one_per_instrument(table: int, runs: list[str], profile: str) -> dict[str, str]:
    """instrument → its one run among ``runs`` (all of one table), in the table's instrument order."""
    out: dict[str, str] = {}
    for run in runs:
        inst = run_config(run, profile)["data"]["instrument"]
        if inst in out:
            raise ValueError(f"table {table}: {out[inst]} and {run} both stand for {inst}")
        out[inst] = run
    return out


def table1_pairs(profile: str = "quick") -> dict[str, tuple[str, str]]:
    """instrument → (HpN run, DDX7 run) of Table 1."""
    runs = table_runs(1, profile)
    by_kind = {kind: _one_per_instrument(1, [r for r in runs if run_config(r, profile)["model"]["kind"] == kind],
                                         profile) for kind in ("hpn", "ddx7")}
    if by_kind["hpn"].keys() != by_kind["ddx7"].keys():
        raise ValueError(f"table 1: HpN runs {by_kind['hpn']} and DDX7 runs {by_kind['ddx7']} do not pair up")
    return {inst: (hpn, by_kind["ddx7"][inst]) for inst, hpn in by_kind["hpn"].items()}


def grid_pairs(profile: str = "quick") -> dict[str, tuple[str, ...]]:
    """instrument → (Table 1's HpN run, then every DDX7 run of the grid for that instrument, Table 1's first)."""
    configs = {r: run_config(r, profile) for r in list_runs()}
    pairs = {}
    for instrument, (hpn, table1) in table1_pairs(profile).items():
        others = [r for r, c in configs.items() if r != table1 and c["model"]["kind"] == "ddx7"
                  and c["data"]["instrument"] == instrument]
        pairs[instrument] = (hpn, table1, *others)
    return pairs


def runs_pairs(runs, profile: str = "quick") -> dict[str, tuple[str, ...]]:
    """instrument → (Table 1's HpN run, then the given DDX7 runs of that instrument: grid runs or experiments)."""
    hpn = {inst: pair[0] for inst, pair in table1_pairs(profile).items()}
    pairs: dict[str, list[str]] = {}
    for r in runs:
        c = run_config(r, profile)
        if c["model"]["kind"] != "ddx7":
            raise ValueError(f"{r} is not a DDX7 run: the runs given are compared with their instrument's HpN")
        pairs.setdefault(c["data"]["instrument"], [hpn[c["data"]["instrument"]]]).append(r)
    return {inst: tuple(v) for inst, v in pairs.items()}


def table2_runs(profile: str = "quick") -> dict[str, str]:
    """instrument → the DDX7 run whose resynthesis Table 2 intervenes on."""
    return _one_per_instrument(2, table_runs(2, profile), profile)


def paper_rtf() -> dict[int, tuple[float, float, float, float]]:
    """The paper's Table 5: latency (ms) → (DDX7 mean, DDX7 std, HpN mean, HpN std) real-time factor."""
    return {int(ms): tuple(v) for ms, v in paper()["table5"]["rtf"].items()}
