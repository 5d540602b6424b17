"""A Sphinx extension for the book: drop duplicate <script> entries; serve the widget fonts.

sphinx-thebe adds its inline configuration script once per `env-before-read-docs` event; a
full rebuild fires that twice, so every page declared `const THEBE_JS_URL` twice and the browser
logged an error. Keeping the first of identical entries changes nothing else.

The vendored @jupyter-widgets/html-manager loads its icon fonts from
``@jupyter-widgets/html-manager/dist/<hash>.woff2`` *relative to the page* (its webpack public
path), not from ``_static``: every page with widgets requested three fonts that did not exist. After
the build the font files are copied to that path beside each such page.
"""

import shutil
from pathlib import Path

FONT_SUFFIXES = {".woff", ".woff2", ".ttf", ".eot", ".svg"}
WIDGET_FONT_DIR = "@jupyter-widgets/html-manager/dist"


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        body = (getattr(script, "attributes", None) or {}).get("body")
        key = ("body", body) if body else ("file", str(getattr(script, "filename", script)))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: the template may hold the same list


def _copy_widget_fonts(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    fonts = [f for f in (out / "_static" / "widgets").glob("*") if f.suffix in FONT_SUFFIXES]
    if not fonts:
        return
    page_dirs = {p.parent for p in out.rglob("*.html") if "embed-amd.js" in p.read_text(errors="ignore")}
    for d in page_dirs:
        target = d / WIDGET_FONT_DIR
        target.mkdir(parents=True, exist_ok=True)
        for f in fonts:
            shutil.copyfile(f, target / f.name)


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=1)
    app.connect("build-finished", _copy_widget_fonts)  # first: emit_firstresult stops at a handler returning a template
    return {"parallel_read_safe": True, "parallel_write_safe": True}
