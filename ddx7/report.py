"""What the book's notebooks call: make sure results exist, load them, show them.

Notebooks stay thin: ``ensure_results`` builds data, trains and evaluates only what is missing
(``compute=True`` forces it), the loaders turn ``results/<profile>/`` into tables, and the display
helpers make labelled audio players and the figures.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import SAMPLE_RATE

RESULTS = Path("results")
INSTRUMENTS = ("violin", "flute", "trumpet")


def find_root() -> Path:
    """The repository root (notebooks run with notebooks/ as working directory)."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").exists() and (p / "ddx7").is_dir():
            return p
    return here


def results_dir(profile: str) -> Path:
    return find_root() / RESULTS / profile


def runs_for_tables(tables, profile: str = "quick") -> list[str]:
    from .runs import list_runs, run_config

    want = set(tables)
    return [r for r in list_runs() if want & set(run_config(r, profile).get("tables", []))]


def ensure_results(profile: str, runs=None, compute: bool = False, log=print) -> list[str]:
    """Build the data, train and evaluate whatever of ``runs`` has no metrics yet; returns the runs done now."""
    import os

    from .eval.evaluate import evaluate_run
    from .runs import list_runs, run_config
    from .train import is_finished, train_run

    root = find_root()
    runs = list(runs or list_runs())
    missing = [r for r in runs if compute or not (results_dir(profile) / r / "metrics.json").exists()]
    if not missing:
        return []
    cwd = os.getcwd()
    os.chdir(root)  # data/, checkpoints/ and results/ live at the root
    try:
        from .data import build_dataset

        for instrument in sorted({run_config(r, profile)["data"]["instrument"] for r in missing}):
            build_dataset(profile, instrument, progress=False)
        for r in missing:
            if compute or not is_finished(r, profile):
                s = train_run(r, profile, restart=compute, progress=False)
                log(f"trained {r}: {s['step']} steps, best valid MSS {s['best_valid']:.3f}, {s['wall_s']:.0f} s")
            m = evaluate_run(r, profile, progress=False)
            log(f"evaluated {r}: MSS {m['mss']:.3f}")
    finally:
        os.chdir(cwd)
    return missing


def load_metrics(profile: str) -> pd.DataFrame:
    """One row per evaluated run of the profile, FAD flattened to one column per embedding."""
    rows = []
    for path in sorted(results_dir(profile).glob("*/metrics.json")):
        m = json.loads(path.read_text())
        row = {k: m.get(k) for k in ("run", "instrument", "model", "patch", "imax", "mss", "f0_median_abs_cents",
                                     "f0_rpa_50c", "loudness_mean_abs_db", "steps", "steps_total", "train_wall_s",
                                     "test_excerpts", "manifest_hash")}
        row["tables"] = m.get("tables", [])
        for emb, v in m.get("fad", {}).items():
            row[f"fad_{emb}"] = v.get("fad")
        row["n_ops"] = int(m["patch"].split("osc")[0].split("-")[-1]) if m.get("patch") else None
        rows.append(row)
    return pd.DataFrame(rows)


def load_metrics_json(profile: str, run: str) -> dict:
    return json.loads((results_dir(profile) / run / "metrics.json").read_text())


def embedding_names(profile: str) -> dict[str, str]:
    """Short key → full embedding name as written in the metrics (e.g. 'aisfx' → 'aisfx-0.1.2 (...)')."""
    names = {}
    for path in sorted(results_dir(profile).glob("*/metrics.json")):
        for k, v in json.loads(path.read_text()).get("fad", {}).items():
            if v.get("fad") is not None:
                names.setdefault(k, v.get("embedding", k))
    return names


def wav_data_uri(path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def audio_data_uri(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, dtype=np.float32), -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def player(src: str, label: str) -> str:
    return (f'<figure style="margin:0 0 .4em 0"><audio controls preload="none" src="{src}" '
            f'style="width:220px"></audio><figcaption style="font-size:.8em">{html.escape(label)}</figcaption></figure>')


def players_table(rows: list[dict], columns: list[str], caption: str = "") -> "HTML":  # noqa: F821
    """An HTML table whose cells are labelled players. Each row: {'label': str, column: (src, label) | text}."""
    from IPython.display import HTML

    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *columns])
    body = []
    for r in rows:
        cells = [f"<td><b>{html.escape(r['label'])}</b></td>"]
        for c in columns:
            v = r.get(c)
            cells.append(f"<td>{player(*v) if isinstance(v, tuple) else html.escape(str(v or '—'))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption style='caption-side:bottom;font-size:.85em'>{html.escape(caption)}</caption>" if caption else ""
    return HTML(f"<table class='ddx7-players'>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def clip(profile: str, run: str, kind: str = "resynth", index: int = 0):
    """(data URI, label) of the index-th chosen test clip of a run ('original', 'resynth', 'intervened')."""
    m = load_metrics_json(profile, run)
    entry = m["clips"][index]
    label = f"{m['instrument']} · {run} · {kind} · excerpt {entry['excerpt']}"
    return wav_data_uri(results_dir(profile) / run / entry[kind]), label


def paper_note(profile: str) -> str:
    return ("Numbers from our own runs on rendered (FluidR3 soundfont) performances, not URMP, with a training "
            f"budget far below the paper's 120k steps (profile '{profile}'); see 'What differs from the paper'.")
