"""``results/<profile>/`` as tables: metrics, curves, budgets, the test split's controls."""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from ..data import load_split
from ..data.report import committed_card
from ..eval.evaluate import metrics_row
from ..eval.oracle import oracle_folder
from ..eval.unseen import summary as unseen_summary
from ..eval.unseen import summary_by_run as unseen_summary_by_run
from ..pipeline import DATA, RESULTS, find_root, results_dir
from ..runs import EXPERIMENTS_DIR, describe_run, list_runs, run_config


def load_metrics(profile: str) -> pd.DataFrame:
    """One row per evaluated run of the profile, FAD flattened to one column per embedding."""
    rows = []
    for path in sorted(results_dir(profile).glob("*/metrics.json")):
        m = json.loads(path.read_text())
        row = metrics_row(m)
        row.update({k: m.get(k) for k in ("steps", "steps_total", "train_wall_s", "test_excerpts", "manifest_hash")})
        row["tables"] = m.get("tables", [])
        row["n_ops"] = int(m["patch"].split("osc")[0].split("-")[-1]) if m.get("patch") else None
        rows.append(row)
    return pd.DataFrame(rows)


def load_metrics_json(profile: str, run: str) -> dict:
    return json.loads((results_dir(profile) / run / "metrics.json").read_text())


def best_valid_mss(profile: str, runs) -> dict[str, float | None]:
    """run → its best validation MSS (the step that was kept)."""
    return {r: load_metrics_json(profile, r).get("best_valid_mss") for r in runs}


def embedding_names(profile: str) -> dict[str, str]:
    """Short key → full embedding name as written in the metrics (e.g. 'aisfx' → 'aisfx-0.1.2 (...)')."""
    names = {}
    for path in sorted(results_dir(profile).glob("*/metrics.json")):
        for k, v in json.loads(path.read_text()).get("fad", {}).items():
            if v.get("fad") is not None:
                names.setdefault(k, v.get("embedding", k))
    return names


def load_curves(profile: str, directory=None) -> pd.DataFrame:
    """Every run's train_log.csv (step, split, loss, lr, wall_s) with its run, instrument and model, from
    results/<profile>/ or ``directory`` (e.g. :func:`experiments_dir`)."""
    frames = []
    for path in sorted((directory or results_dir(profile)).glob("*/train_log.csv")):
        df = pd.read_csv(path)
        m = json.loads((path.parent / "metrics.json").read_text())
        df["run"], df["instrument"], df["model"] = m["run"], m["instrument"], m["model"]
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["step", "split", "loss", "lr", "wall_s", "run", "instrument", "model"])


def rtf_meta(profile: str) -> dict:
    """results/<profile>/rtf.json: where and how the paper-procedure real-time factors were measured."""
    return json.loads((results_dir(profile) / "rtf.json").read_text())


def load_test_split(profile: str, instrument: str) -> dict:
    """The test split (f0_hz, loudness_db [N, frames], ...): from the built dataset, else from the committed
    data card."""
    root = find_root()
    card = committed_card(profile, instrument, root / DATA, root / RESULTS)
    return card[1]["test"] if card else load_split(profile, instrument, "test", root / DATA)


def imax_label(x) -> str:
    """2π and 4π by name, other values as numbers; '—' for none (HpN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    for k, lab in ((2 * math.pi, "2π"), (4 * math.pi, "4π")):
        if abs(x - k) < 1e-6:
            return lab
    return f"{x:g}"


def metrics_table(profile: str, runs) -> pd.DataFrame:
    """The test metrics of ``runs`` in that order, one row per run, with readable column names."""
    df = load_metrics(profile)
    df = df[df["run"].isin(list(runs))].copy()
    if df.empty:
        return df
    df["imax"] = df["imax"].map(imax_label)
    df.loc[df["model"] == "hpn", "patch"] = "harmonic+noise"
    fad_cols = [c for c in df.columns if c.startswith("fad_") and df[c].notna().any()]
    cols = ["run", "instrument", "model", "patch", "imax", *fad_cols, "mss", "f0_median_abs_cents",
            "loudness_mean_abs_db", "steps"]
    out = df[cols].rename(columns={"mss": "MSS", "f0_median_abs_cents": "f0 error (cents)",
                                   "loudness_mean_abs_db": "loudness error (dB)", "steps": "best step",
                                   **{c: f"FAD {c[4:]}" for c in fad_cols}})
    conv = convergence_table(profile)
    if not conv.empty:
        out["converged"] = out["run"].map(lambda r: converged_label(conv, r))
    order = {r: i for i, r in enumerate(runs)}
    return out.sort_values("run", key=lambda s: s.map(order)).set_index("run")


def converged_label(conv: pd.DataFrame, run: str) -> str:
    """'yes' when ``run``'s validation loss changed by less than 2 % over the last third of its training
    (convergence_table), else 'no (−x % in the last third)'; '?' without a curve."""
    if run not in conv.index:
        return "?"
    row = conv.loc[run]
    return "yes" if row["verdict"] == "flat" else f"no ({row['change over last third (%)']:+.1f} % in the last third)"


def pivot_metric(table: pd.DataFrame, index: str, columns: str) -> pd.DataFrame:
    """A metrics_table's FAD, MSS and f0 error with ``index`` down and ``columns`` across."""
    metrics = [c for c in table.columns if c.startswith("FAD")] + ["MSS", "f0 error (cents)"]
    return table.reset_index().pivot_table(index=index, columns=columns, values=metrics, aggfunc="first")


def fad_table(profile: str) -> pd.DataFrame:
    """Every evaluated run's FAD under every embedding."""
    df = load_metrics(profile)
    if df.empty:
        return df
    cols = [c for c in df.columns if c.startswith("fad_")]
    out = df[["run", "instrument", "model", *cols]].set_index("run")
    return out.rename(columns={c: f"FAD {c[4:]}" for c in cols})


def _budget_row(run: str, profile: str) -> dict:
    d = describe_run(run, profile)
    t = run_config(run, profile)["train"]
    return {"run": run, "model": d["model"], "steps": t["steps"], "batch": t["batch_size"],
            "excerpt (s)": d["excerpt_s"], "lr": t["lr"],
            "audio seen (min)": round(t["steps"] * t["batch_size"] * d["excerpt_s"] / 60, 1)}


def budget_table(profile: str) -> pd.DataFrame:
    """Each run's training budget under ``profile``, below the paper's (the `paper` profile of base.yaml)."""
    runs = list_runs()
    paper = {**_budget_row(runs[0], "paper"), "run": "paper (every run)", "model": ""}
    return pd.DataFrame([paper, *(_budget_row(r, profile) for r in runs)]).set_index("run")


def training_summary(profile: str) -> pd.DataFrame:
    """Per run: best step, steps trained, wall time, best validation MSS."""
    df = load_metrics(profile)
    if df.empty:
        return df
    out = df[["run", "instrument", "model", "steps", "steps_total", "train_wall_s"]].copy()
    out["best valid MSS"] = list(best_valid_mss(profile, df["run"]).values())
    out = out.rename(columns={"steps": "best step", "steps_total": "steps trained", "train_wall_s": "wall time (s)"})
    return out.set_index("run")


def convergence_table(profile: str, tail: float = 1 / 3, flat_pct: float = 2.0,
                      until: dict | None = None, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Did the validation curves flatten? Per run: validation MSS at the start of the last ``tail`` of
    training and at the end, the change between them, and a verdict (``flat`` when it improved by less
    than ``flat_pct`` %). ``until`` ({model kind: step}) cuts each curve there: the verdict a shorter
    budget had. ``curves``: load_curves(profile), when the caller has it already."""
    curves = load_curves(profile) if curves is None else curves
    rows = []
    for run, d in curves[curves["split"] == "valid"].groupby("run", sort=True):
        d = d.sort_values("step")
        if until is not None:
            d = d[d["step"] <= until.get(d["model"].iloc[0], d["step"].max())]
        last = d["step"].max()
        start = d[d["step"] <= last * (1 - tail)]
        if start.empty:
            continue
        a, b = start["loss"].iloc[-1], d["loss"].iloc[-1]
        best = d["loss"].min()
        change = 100 * (b - a) / a
        rows.append({"run": run, "model": d["model"].iloc[0], "steps": int(last),
                     "last third from step": int(start["step"].iloc[-1]), "valid MSS there": a, "valid MSS at end": b,
                     "best": best,
                     "change over last third (%)": change,
                     "verdict": "flat" if change > -flat_pct else "still improving"})
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def _step_times(curves: pd.DataFrame, run: str, step: int) -> dict:
    """Wall seconds per training step (validation included) up to ``step`` and after it, from the run's log."""
    d = curves[curves["run"] == run].sort_values("step")
    upto, after = d[d["step"] <= step], d[d["step"] > step]
    if upto.empty or after.empty:
        return {"s/step before": float("nan"), "s/step after": float("nan")}
    w0, s0 = upto["wall_s"].iloc[-1], upto["step"].iloc[-1]
    return {"s/step before": w0 / s0, "s/step after": (after["wall_s"].iloc[-1] - w0) / (after["step"].iloc[-1] - s0)}


def doubling_table(profile: str, former: dict) -> pd.DataFrame:
    """What a longer budget did, per run: test MSS and FAD (aisfx) of the snapshot at the former budget
    (``former``: {model kind: steps}) and of the shipped model, the FAD's change, and whether the validation
    curve had converged (converged_label) at the former budget and now, and the wall seconds per step before and
    after the former budget (validation included). Runs without that snapshot are left out."""
    curves = load_curves(profile)
    before, now = convergence_table(profile, until=former, curves=curves), convergence_table(profile, curves=curves)
    rows = []
    for path in sorted(results_dir(profile).glob("*/metrics.json")):
        m = json.loads(path.read_text())
        snap = next((s for s in m.get("snapshots", []) if s["step"] == former.get(m["model"])), None)
        if snap is None or m.get("steps_total", 0) <= snap["step"]:
            continue
        fad_before, fad_now = (x.get("fad", {}).get("aisfx", {}).get("fad") for x in (snap, m))
        rows.append({"run": m["run"], "model": m["model"], "former steps": snap["step"], "steps": m["steps_total"],
                     "MSS before": snap["mss"], "MSS now": m["mss"], "FAD before": fad_before, "FAD now": fad_now,
                     "FAD change (%)": 100 * (fad_now - fad_before) / fad_before if fad_before else float("nan"),
                     "converged before": converged_label(before, m["run"]),
                     "converged now": converged_label(now, m["run"]), **_step_times(curves, m["run"], snap["step"])})
    return pd.DataFrame(rows)


def experiments_dir():
    """results/experiments/full/: the recipe experiments' metrics and curves."""
    return find_root() / RESULTS / "experiments" / "full"


def experiment_table() -> pd.DataFrame:
    """The recipe experiments (``ddx7/configs/experiments``, evaluated into results/experiments/full/):
    one row per evaluated run (``name``; ``run`` and ``variant`` split from it, ``--recipe1`` being the
    baseline), the change it makes (its config file's leading comment), its test metrics (with how much louder
    than the input the rests between detached notes are: ddx7.eval.rests) and whether it is pitched (median
    f0 error < 20 cents). Empty when none is evaluated."""
    path = experiments_dir() / "metrics.csv"
    if not path.exists():
        return pd.DataFrame()
    df = pd.read_csv(path)
    rows = []
    for r in df.itertuples():
        run, _, variant = r.run.partition("--")
        rows.append({"name": r.run, "run": run, "variant": "baseline" if variant in ("", "recipe1") else variant,
                     "change": _experiment_change(r.run),
                     "steps": r.steps, "best step": r.best_step, "wall (s)": round(r.train_wall_s),
                     "best valid MSS": r.best_valid_mss, **_test_columns(r)})
    return pd.DataFrame(rows).sort_values(["run", "variant"], key=lambda s: s.replace("baseline", ""))


def _test_columns(r) -> dict:
    """A run's test metrics as the recipe tables name them, from a row of metrics.csv or load_metrics (a metric
    evaluated before it existed is missing, None or NaN: NaN here)."""
    def number(name: str) -> float:
        v = getattr(r, name, None)
        return math.nan if v is None else float(v)

    return {"MSS": r.mss, "f0 error (cents)": r.f0_median_abs_cents, "pitched": r.f0_median_abs_cents < 20,
            "loudness error (dB)": r.loudness_mean_abs_db, "FAD aisfx": r.fad_aisfx,
            "rests above input (dB)": r.rests_above_input_db,
            "haze above input (dB)": number("harmonic_haze_db") - number("harmonic_haze_input_db")}


def variant_table(variant: str, profile: str = "full", baseline: str | None = None) -> pd.DataFrame:
    """Each grid run (results/<profile>) beside its recipe experiment ``<run>--<variant>``, where that has been
    evaluated: test MSS, FAD (aisfx), f0 and loudness errors, the rests' and the haze's excess over the input,
    grid → variant, and the FAD ratio variant / grid. With ``baseline``, the experiments ``<run>--<baseline>``
    stand for the grid (a recipe the grid had before: ddx7.promote keeps it so). Empty when no such pair."""
    exp = experiment_table()
    if exp.empty:
        return pd.DataFrame()
    if baseline is None:
        base = pd.DataFrame([{"run": g.run, **_test_columns(g)} for g in load_metrics(profile).itertuples()])
    else:
        base = exp[exp["variant"] == baseline]
    base, exp = base.set_index("run"), exp[exp["variant"] == variant].set_index("run")
    rows = []
    for run in [r for r in base.index if r in exp.index]:
        g, e = base.loc[run], exp.loc[run]
        rows.append({"run": run, "MSS grid": g["MSS"], "MSS variant": e["MSS"], "FAD grid": g["FAD aisfx"],
                     "FAD variant": e["FAD aisfx"], "FAD variant / grid": e["FAD aisfx"] / g["FAD aisfx"],
                     "f0 error grid (cents)": g["f0 error (cents)"], "f0 error variant (cents)": e["f0 error (cents)"],
                     "loudness error grid (dB)": g["loudness error (dB)"],
                     "loudness error variant (dB)": e["loudness error (dB)"],
                     "rests above input grid (dB)": g["rests above input (dB)"],
                     "rests above input variant (dB)": e["rests above input (dB)"],
                     "haze above input grid (dB)": g["haze above input (dB)"],
                     "haze above input variant (dB)": e["haze above input (dB)"]})
    return pd.DataFrame(rows)


def _experiment_change(name: str) -> str:
    """An experiment's config file's leading comment, without its "Issue N experiment:" prefix."""
    if name.endswith("--recipe1"):
        return "recipe 1: the full profile's recipe before issue 16 (1,800 steps, log floor 1e-7)"
    path = EXPERIMENTS_DIR / f"{name}.yaml"
    if "--" not in name or not path.exists():
        kind = run_config(name, "full")["model"]["kind"] if name in list_runs() else "ddx7"
        return f"the full profile's recipe (ddx7/configs/{kind}.yaml)"
    lines = path.read_text().splitlines()
    comment = " ".join(line.lstrip("# ") for line in lines[:next((i for i, x in enumerate(lines)
                                                                   if not x.startswith("#")), len(lines))])
    return re.sub(r"^Issue \d+ experiment:?\s*", "", comment) or "?"


def snapshot_table(profile: str, runs) -> pd.DataFrame:
    """Test metrics along training: one row per evaluated snapshot of ``runs`` (metrics.json ``snapshots``,
    the weights at that step) and one for the model each run shipped (its best validation step, after all
    its steps), with the CPU seconds trained so far (1 thread)."""
    rows = []
    for run in runs:
        path = results_dir(profile) / run / "metrics.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())
        points = [{**s, "point": f"step {s['step']}"} for s in m.get("snapshots", [])]
        points.append({**m, "step": m.get("steps_total"), "point": f"best of {m.get('steps_total')} (shipped)"})
        for p in points:
            rows.append({"run": run, "instrument": m["instrument"], "model": m["model"], "point": p["point"],
                         "step": p["step"], "CPU s": p.get("train_wall_s"), "MSS": p["mss"],
                         "FAD aisfx": p.get("fad", {}).get("aisfx", {}).get("fad"),
                         "f0 error (cents)": p["f0_median_abs_cents"],
                         "loudness error (dB)": p["loudness_mean_abs_db"]})
    return pd.DataFrame(rows)


def equal_budget_table(profile: str, pairs) -> pd.DataFrame:
    """Table 1 pairs at equal steps and at equal CPU time: per instrument, both models at the largest step
    count where each has a point (a snapshot or the shipped model: equal steps), and both shipped models
    (DDX7's longer budget, about HpN's CPU time), with DDX7/HpN ratios of FAD (aisfx) and MSS."""
    snaps = snapshot_table(profile, [r for pair in pairs.values() for r in pair])
    rows = []
    for instrument, (hpn_run, ddx7_run) in pairs.items():
        hpn_points, ddx7 = snaps[snaps["run"] == hpn_run], snaps[snaps["run"] == ddx7_run]
        if hpn_points.empty or ddx7.empty:
            continue
        hpn_shipped = hpn_points[hpn_points["point"].str.startswith("best")].iloc[0]
        shipped = ddx7[ddx7["point"].str.startswith("best")]
        common = sorted(set(hpn_points["step"]) & set(ddx7["step"]))
        budgets = [("equal CPU time", hpn_shipped, shipped[shipped["step"] > hpn_shipped["step"]])]
        if common:
            hpn_there = hpn_points[hpn_points["step"] == common[-1]].iloc[0]
            budgets.insert(0, ("equal steps", hpn_there, ddx7[ddx7["step"] == common[-1]]))
        for budget, hpn, d in budgets:
            if d.empty:
                continue
            d = d.iloc[0]
            rows.append({"instrument": instrument, "budget": budget, "DDX7 steps": d["step"],
                         "DDX7 CPU s": d["CPU s"], "HpN steps": hpn["step"], "HpN CPU s": hpn["CPU s"],
                         "FAD DDX7": d["FAD aisfx"], "FAD HpN": hpn["FAD aisfx"],
                         "FAD ratio": d["FAD aisfx"] / hpn["FAD aisfx"], "MSS ratio": d["MSS"] / hpn["MSS"],
                         "loudness error DDX7 (dB)": d["loudness error (dB)"],
                         "loudness error HpN (dB)": hpn["loudness error (dB)"],
                         "f0 error DDX7 (cents)": d["f0 error (cents)"]})
    return pd.DataFrame(rows)


def unseen_table(profile: str, name: str = "unseen") -> pd.DataFrame:
    """``ddx7 eval-unseen``'s results per instrument: the Table 1 models on phrases from another soundfont and
    performance, mean MSS (and median f0 error, mean loudness error) of DDX7 and HpN, and DDX7/HpN MSS.
    ``name``: its ``--name`` (the folder under results/<profile>/). Empty when it has not been run for the profile."""
    path = results_dir(profile) / name / "unseen.csv"
    if not path.exists():
        return pd.DataFrame()
    return unseen_summary(pd.read_csv(path))


def unseen_runs_table(profile: str, name: str = "unseen-all") -> pd.DataFrame:
    """``ddx7 eval-unseen --all-runs``: every DDX7 run of the grid on the unseen phrases against its instrument's
    HpN (ddx7.eval.unseen.summary_by_run), Table 1's run first per instrument; ``name``: another ``--name`` folder
    (``--runs``). Empty when not run."""
    path = results_dir(profile) / name / "unseen.csv"
    if not path.exists():
        return pd.DataFrame()
    phrases = pd.read_csv(path)
    table = unseen_summary_by_run(phrases)
    # beside each ratio the same ratio on the run's own test set (the corpus's soundfont): does another sample set
    # widen the gap, or does the gap come with the run? NaN for a run without results here (an experiment) and for
    # a snapshot (--step), which is not the model the test set measured
    hpn = phrases[phrases["model"] == "hpn"].groupby("instrument")["run"].first()
    snapshots = set(phrases.loc[phrases["step"].notna(), "run"]) if "step" in phrases else set()
    mss = {r: load_metrics_json(profile, r)["mss"] for r in {*table.get("run", []), *hpn}
           if r not in snapshots and (results_dir(profile) / r / "metrics.json").exists()}
    table.insert(table.columns.get_loc("MSS ratio") + 1, "test-set MSS ratio",
                 [mss[r] / mss[hpn[i]] if r in mss and hpn[i] in mss else float("nan")
                  for r, i in zip(table["run"], table["instrument"])])
    return table


def oracle_table(profile: str, unseen: bool = False, name: str | None = None) -> pd.DataFrame:
    """``ddx7 eval-oracle``'s rows (ddx7.eval.oracle: the Table 1 DDX7 models with free envelopes, with their reverb
    and dry, beside HpN on the same test excerpts); with ``unseen``, ``ddx7 eval-oracle --unseen``'s (on the unseen
    phrases); ``name``: its ``--name`` folder instead. Empty when it has not been run for the profile."""
    path = results_dir(profile) / oracle_folder(unseen, name) / "oracle.csv"
    if not path.exists():
        return pd.DataFrame()
    table = pd.read_csv(path)
    if "decoder / free" not in table:  # written before the column existed
        table.insert(table.columns.get_loc("decoder / HpN") + 1, "decoder / free",
                     table["decoder MSS"] / table["free-envelope MSS"])
    return table


def same_reverb_table(profile: str, pairs, variant: str = "reverb-1s") -> pd.DataFrame:
    """Table 1 against HpN with either reverb length: per instrument whose HpN run has the experiment
    ``<hpn run>--<variant>`` (results/experiments/full; by default the paper's 1 s reverb, where the grid's HpN
    has DDX7's 0.25 s), DDX7's shipped model beside HpN's grid run and that experiment: each one's reverb and FAD
    (aisfx), and DDX7/HpN ratios of FAD and MSS against each (columns "... grid HpN" and "... HpN <variant>")."""
    if profile != "full":  # the experiments are full-profile runs
        return pd.DataFrame()
    fad = lambda m: m["fad"]["aisfx"]["fad"]  # noqa: E731
    seconds = lambda m: m["config"]["model"].get("reverb_seconds") or 1.0  # noqa: E731
    rows = []
    for instrument, (hpn_run, ddx7_run) in pairs.items():
        path = experiments_dir() / f"{hpn_run}--{variant}" / "metrics.json"
        if not path.exists():
            continue
        ddx7, hpn, other = (load_metrics_json(profile, ddx7_run), load_metrics_json(profile, hpn_run),
                            json.loads(path.read_text()))
        rows.append({"instrument": instrument, "DDX7 reverb (s)": seconds(ddx7), "FAD DDX7": fad(ddx7),
                     "grid HpN reverb (s)": seconds(hpn), "FAD grid HpN": fad(hpn),
                     f"HpN {variant} reverb (s)": seconds(other), f"FAD HpN {variant}": fad(other),
                     "FAD ratio vs grid HpN": fad(ddx7) / fad(hpn),
                     f"FAD ratio vs HpN {variant}": fad(ddx7) / fad(other),
                     "MSS ratio vs grid HpN": ddx7["mss"] / hpn["mss"],
                     f"MSS ratio vs HpN {variant}": ddx7["mss"] / other["mss"]})
    return pd.DataFrame(rows)
