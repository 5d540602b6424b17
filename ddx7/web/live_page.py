"""The book's "Play it live" page: the trained DDX7 plays a file or the microphone in the browser.

One home for what the page needs, used by the book build and by tests/test_web_live_page.py:

    write_assets(static_dir, profile)     # scripts + weights + manifest → static_dir (the book: _static/live/)
    standalone_page(out_root, profile)    # out_root/book/live.html + out_root/_static/live/: no Sphinx
    fragment()                            # the page's HTML (ddx7/web/live_page.html)

The book: ``book/live.md`` includes live_page.html with ``{raw} html :file:``; this module is also a Sphinx
extension (``_config.yml`` → ``extra_extensions``) that, when the HTML build finishes, writes the assets
into ``_build/html/_static/live/``. The weights of the Table 1 DDX7 runs of the book's profile
(``ddx7.paper.table1_pairs``; ``ddx7 book`` sets ``DDX7_BOOK_PROFILE``, else the default profile) are
exported from ``results/<profile>/<run>/model.pt`` with :func:`ddx7.web.export.export_weights`; a run
without a model.pt is listed with a sentence saying so, which the page shows. Every script is classic
and loaded relative to the page, so the built book works opened as a file (file://).

Files in the static folder:
    features.js, ddx7_model.js      the JS features and model (ddx7/web/, copied);
    live_page.js                    the page's logic;
    ddx7_worklet_source.js          DDX7_WORKLET_SOURCE: features.js + ddx7_model.js + live_worklet.js as one
                                    string, which the page loads as an AudioWorklet from a data: URL;
    live_manifest.js                DDX7_LIVE_MANIFEST: profile, instrument → run and weights script (or why
                                    missing), and the measured speed (results/<profile>/web_live_speed.json);
    ddx7_weights_<run>.js           one per available instrument (≤ 1 MB each), loaded when chosen.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

__all__ = ["fragment", "worklet_source", "live_manifest", "write_assets", "standalone_page", "setup",
           "SPEED_FILE", "STATIC_SUBDIR"]

STATIC_SUBDIR = "live"  # under the book's _static/
SPEED_FILE = "web_live_speed.json"  # results/<profile>/, written by tests/test_web_live_page.py on request
COPIED = ("features.js", "ddx7_model.js", "live_page.js")
PROFILE_ENV = "DDX7_BOOK_PROFILE"


def _read(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def fragment() -> str:
    """The page's HTML (controls, players, script tags relative to ``book/live.html``)."""
    return _read("live_page.html")


def worklet_source() -> str:
    """The AudioWorklet module: features.js + ddx7_model.js + live_worklet.js (one data: URL in the page)."""
    return "\n".join(_read(n) for n in ("features.js", "ddx7_model.js", "live_worklet.js"))


def live_manifest(static_dir, profile: str, root=None) -> dict:
    """Export the profile's Table 1 DDX7 weights into ``static_dir``; the manifest the page reads."""
    from ..paper import table1_pairs
    from ..pipeline import results_dir
    from .export import export_weights

    results = results_dir(profile, Path(root) if root else None)
    out = {"profile": profile, "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "instruments": [], "speed": None, "note": None}
    try:
        pairs = table1_pairs(profile)
    except Exception as e:  # no Table 1 runs configured for this profile
        out["note"] = f"No model is available in this book: profile {profile} has no Table 1 runs ({e})."
        return out
    if not pairs:
        out["note"] = f"No model is available in this book: profile {profile} has no Table 1 runs."
    for inst, (_, run) in pairs.items():
        src = results / run / "model.pt"
        item = {"instrument": inst, "run": run}
        if not src.is_file():
            item["missing"] = (f"No {inst} model in this book: results/{profile}/{run}/model.pt was not there when "
                               f"the book was built (train and evaluate the run, then make book).")
        else:
            try:
                path = export_weights(src, static_dir)
                item.update(script=path.name, bytes=path.stat().st_size)
            except Exception as e:  # too large, damaged checkpoint, ...
                item["missing"] = f"The {inst} model's weights could not be exported when the book was built: {e}."
        out["instruments"].append(item)
    speed = results / SPEED_FILE
    if speed.is_file():
        out["speed"] = json.loads(speed.read_text())
    if pairs and all("missing" in i for i in out["instruments"]):
        out["note"] = (f"No model is available in this book: none of profile {profile}'s Table 1 runs "
                       f"({', '.join(r for _, r in pairs.values())}) has a model.pt in results/{profile}/.")
    return out


def write_assets(static_dir, profile: str = "full", root=None) -> dict:
    """Everything the page loads, into ``static_dir`` (created); returns the manifest."""
    static_dir = Path(static_dir)
    static_dir.mkdir(parents=True, exist_ok=True)
    for old in static_dir.glob("ddx7_weights_*.js"):  # only this build's models
        old.unlink()
    for name in COPIED:
        (static_dir / name).write_text(_read(name), encoding="utf-8")
    src = json.dumps(worklet_source())  # a JS string literal (JSON ⊂ JS since ES2019)
    (static_dir / "ddx7_worklet_source.js").write_text(
        "/* written by ddx7.web.live_page (do not edit): the AudioWorklet module of the live page */\n"
        f"globalThis.DDX7_WORKLET_SOURCE = {src};\n", encoding="utf-8")
    man = live_manifest(static_dir, profile, root)
    (static_dir / "live_manifest.js").write_text(
        "/* written by ddx7.web.live_page (do not edit) */\n"
        f"globalThis.DDX7_LIVE_MANIFEST = {json.dumps(man, indent=1, ensure_ascii=False)};\n", encoding="utf-8")
    return man


def standalone_page(out_root, profile: str = "full", root=None, title: str = "Play it live") -> Path:
    """The page outside Sphinx, with the book's layout: ``out_root/book/live.html`` + ``out_root/_static/live/``."""
    out_root = Path(out_root)
    write_assets(out_root / "_static" / STATIC_SUBDIR, profile, root)
    page = out_root / "book" / "live.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>\n"
                    f"<body><h1>{title}</h1>\n{fragment()}\n</body></html>\n", encoding="utf-8")
    return page


# ----------------------------------------------------------------------------- Sphinx extension


def _build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from ..pipeline import default_profile

    root = Path(app.srcdir)
    profile = os.environ.get(PROFILE_ENV) or default_profile(root)
    static = Path(app.outdir) / "_static" / STATIC_SUBDIR
    if static.exists():
        shutil.rmtree(static)
    man = write_assets(static, profile, root)
    have = [i["instrument"] for i in man["instruments"] if "missing" not in i]
    print(f"[live page] profile {profile}: weights of {', '.join(have) or 'no model'} -> {static}", flush=True)


def setup(app):
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
