"""Labelled HTML audio players of the shipped test clips (original, resynthesis, intervened)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from IPython.display import HTML

from ..paper import table2_runs
from .findings import paper_note
from .loaders import imax_label, load_metrics_json, metrics_table, results_dir


def wav_data_uri(path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def player(src: str, label: str) -> str:
    return (f'<figure style="margin:0 0 .4em 0"><audio controls preload="none" src="{src}" '
            f'style="width:170px"></audio>'
            f'<figcaption style="font-size:.8em">{html.escape(label)}</figcaption></figure>')


def players_table(rows: list[dict], columns: list[str], caption: str = "") -> HTML:
    """An HTML table whose cells are labelled players. Each row: {'label': str, column: (src, label) | text}."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *columns])
    body = []
    for r in rows:
        cells = [f"<td><b>{html.escape(r['label'])}</b></td>"]
        for c in columns:
            v = r.get(c)
            cells.append(f"<td>{player(*v) if isinstance(v, tuple) else html.escape(str(v or '—'))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption style='caption-side:bottom;font-size:.85em'>{html.escape(caption)}</caption>" if caption else ""
    return HTML(f"<table class='ddx7-players'>{cap}<thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>")


def clip(profile: str, run: str, kind: str = "resynth", index: int = 0):
    """(data URI, label) of the index-th chosen test clip of a run ('original', 'resynth', 'intervened')."""
    m = load_metrics_json(profile, run)
    entry = m["clips"][index]
    label = f"{m['instrument']} · {run} · {kind}"
    return wav_data_uri(results_dir(profile) / run / entry[kind]), label


def table1_players(profile: str, pairs: dict[str, tuple[str, str]], clips: int = 2) -> HTML:
    """Per instrument of ``pairs`` (instrument → (HpN run, DDX7 run)): original, HpN and DDX7 of ``clips`` clips."""
    rows = []
    for inst, (hpn, ddx7) in pairs.items():
        m = load_metrics_json(profile, ddx7)
        for i in range(min(clips, len(m["clips"]))):
            rows.append({"label": f"{inst}, excerpt {m['clips'][i]['excerpt']}",
                         "original": clip(profile, ddx7, "original", i), "HpN": clip(profile, hpn, "resynth", i),
                         "DDX7": clip(profile, ddx7, "resynth", i)})
    return players_table(rows, ["original", "HpN", "DDX7"], "16 kHz mono test excerpts; " + paper_note(profile))


def grid_players(profile: str, runs, rows: str = "imax", columns: str = "instrument", index: int = 0) -> HTML:
    """The resynthesised clip of each run on a grid (``rows`` × ``columns`` of its metrics), originals on top."""
    df = metrics_table(profile, runs).reset_index()
    cols = list(dict.fromkeys(df[columns]))
    out = []
    for key, group in df.groupby(rows, sort=False):
        row = {"label": str(key)}
        for _, r in group.iterrows():
            row[r[columns]] = clip(profile, r["run"], "resynth", index)
        out.append(row)
    first = df["run"].iloc[0]
    out.insert(0, {"label": "original", **{c: clip(profile, df[df[columns] == c]["run"].iloc[0], "original", index)
                                          for c in cols}})
    return players_table(out, cols, f"first chosen test excerpt of each run ({first} …)")


def table2_players(profile: str, index: int = 0) -> HTML:
    """Table 2: per instrument the original, the DDX7 resynthesis and the paper's intervention on it."""
    rows = []
    for inst, run in table2_runs(profile).items():
        m = load_metrics_json(profile, run)
        rows.append({"label": f"{inst} · {m['patch']} · Imax {imax_label(m['imax'])}",
                     "intervention": m.get("intervention", {}).get("name", "—"),
                     "original": clip(profile, run, "original", index),
                     "DDX7 resynthesis": clip(profile, run, "resynth", index),
                     "intervened": clip(profile, run, "intervened", index)})
    return players_table(rows, ["intervention", "original", "DDX7 resynthesis", "intervened"],
                         "No retraining: the same decoder outputs rendered with other ratios / envelope gains.")


def unseen_players(profile: str, name: str = "unseen", phrases: int = 1) -> HTML | None:
    """``ddx7 eval-unseen``'s phrases (``--name`` folder) with each model's resynthesis: for the first ``phrases`` of
    each instrument the input, HpN and DDX7 (the runs its unseen.json pairs; embedded in the page, so few). None when
    the evaluation kept no audio or has not been run."""
    folder = results_dir(profile) / name
    if not (folder / "unseen.json").exists():
        return None
    meta = json.loads((folder / "unseen.json").read_text())
    if not meta.get("keep_audio"):
        return None
    audio, rows = folder / "audio", []
    for inst, (hpn, *ddx7) in meta["pairs"].items():
        for phrase in list(dict.fromkeys(r["phrase"] for r in meta["rows"] if r["instrument"] == inst))[:phrases]:
            rows.append({"label": f"{inst}: {phrase.removeprefix(inst + '-')}",
                         "input": (wav_data_uri(audio / f"{phrase}.wav"), f"{inst} · input"),
                         **{model: (wav_data_uri(audio / f"{phrase}--{run}.wav"), run)
                            for model, run in (("HpN", hpn), ("DDX7", ddx7[0]))}})
    caption = (f"8 s phrases rendered with {meta['soundfont']}, resynthesised as ddx7 resynth --run RUN does; all of "
               f"them in results/{profile}/{name}/audio/")
    return players_table(rows, ["input", "HpN", "DDX7"], caption)
