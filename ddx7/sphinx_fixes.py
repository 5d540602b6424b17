"""A Sphinx extension for the book: drop duplicate <script> entries.

sphinx-thebe adds its inline configuration script once per `env-before-read-docs` event; a
full rebuild fires that twice, so every page declared `const THEBE_JS_URL` twice and the browser
logged an error. Keeping the first of identical entries changes nothing else.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        body = (getattr(script, "attributes", None) or {}).get("body")
        key = ("body", body) if body else ("file", str(getattr(script, "filename", script)))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: the template may hold the same list


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=1)  # first: emit_firstresult stops at a handler returning a template
    return {"parallel_read_safe": True, "parallel_write_safe": True}
