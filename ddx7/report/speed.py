"""Training-speed records as tables: ``ddx7 bench train --out`` (results/full/bench_train/) and ``ddx7 bench
denormals --out`` (results/full/bench_denormals/), whatever the profile: a step's speed is the machine's."""

from __future__ import annotations

import json

import pandas as pd

from ..eval.bench_train import load_bench_record
from ..pipeline import RESULTS, find_root


def train_bench_tables() -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """``ddx7 bench train --out`` records in results/full/bench_train/ (whatever the profile: a step's
    speed is the machine's, not the profile's) as (one row per model and batch: step times, speed-up,
    decoder rate; each part's ms for each record), or None when there are none."""
    paths = sorted((find_root() / RESULTS / "full" / "bench_train").glob("*.json"))
    if not paths:
        return None
    summary, parts = [], []
    for path in paths:
        bench = load_bench_record(path)
        i, steps = bench.info, bench.steps.set_index("part")
        label = f"{i['model']}, {i['batch']} × {i['seconds']:g} s"
        if "bf16" in i.get("ours", ""):
            label += ", ours bf16"
        rates = bench.rates["ours"]
        summary.append({"step": label, "ours ms": steps.loc["step", "ours_ms"],
                        "straightforward ms": steps.loc["step", "straightforward_ms"],
                        "speed-up": steps.loc["step", "speedup"],
                        "decoder fwd+bwd GFLOP/s": rates["decoder fwd+bwd GFLOP/s"],
                        "best fp32 GFLOP/s": max(v for k, v in rates.items() if k.startswith("fp32 ")),
                        "CPU, torch, threads": f"{i['cpu']}, {i['torch']}, {i['threads']}",
                        "date": i["provenance"]["date"][:10]})
        parts.append(steps[["ours_ms", "straightforward_ms"]].rename(
            columns={"ours_ms": (label, "ours"), "straightforward_ms": (label, "straightforward")}))
    table = pd.concat(parts, axis=1)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return pd.DataFrame(summary), table


def denormal_bench_table() -> pd.DataFrame | None:
    """``ddx7 bench denormals --out`` records, one row each: the checkpoint, how much of Adam's first
    moment and of the gradients was denormal, the step with denormals kept and flushed, the speed-up;
    None when there are none."""
    paths = sorted((find_root() / RESULTS / "full" / "bench_denormals").glob("*.json"))
    if not paths:
        return None
    rows = []
    for path in paths:
        record = json.loads(path.read_text())
        i, modes = record["info"], {row["denormals"]: row for row in record["table"]}
        share = {k: 100 * n / max(total, 1) for k, (n, total) in i["denormals"].items()}
        rows.append({"run": i["run"], "step": i["step"], "batch": f"{i['batch']} × {i['frames']} frames",
                     "denormal Adam exp_avg %": share["Adam exp_avg"], "denormal gradients %": share["gradients"],
                     "kept ms": modes["kept"]["step (ms)"], "flushed ms": modes["flushed"]["step (ms)"],
                     "kept backward ms": modes["kept"]["backward (ms)"],
                     "flushed backward ms": modes["flushed"]["backward (ms)"],
                     "speed-up": modes["flushed"]["speed-up"],
                     "CPU, torch, threads": f"{i['cpu']}, {i['torch']}, {i['threads']}",
                     "date": record["provenance"]["date"][:10]})
    return pd.DataFrame(rows)
