"""The book's configuration: _toc.yml, notebooks/ and notebooks/profiles.yml agree; the
builder executes notebooks with this interpreter and fails on a failing cell."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from ddx7 import book

ROOT = Path(__file__).resolve().parents[1]


def test_config_consistent():
    assert book.check_config(ROOT) == []
    assert book.toc_notebooks(ROOT), "_toc.yml lists no executed notebook"


@pytest.mark.parametrize("name", book.toc_notebooks(ROOT))
def test_notebook_has_parameters_cell(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: needs exactly one cell tagged `parameters`"
    for profile in book.PROFILES:
        params = book.notebook_parameters(book.load_profiles(ROOT), name, profile)
        for key in params:
            assert f"{key} =" in tagged[0].source or f"{key}=" in tagged[0].source, (
                f"{name}: parameter {key!r} ({profile}) is not assigned in its parameters cell"
            )
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{name}: commit notebooks without outputs (the book executes them)"
    )


def test_book_config_offline_and_excludes():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["only_build_toc_files"] is True
    assert cfg["execute"]["execute_notebooks"] == "off"
    for d in (".venv", "_build", "_vendor", "data", "results"):
        assert d in cfg["exclude_patterns"]
    sph = cfg["sphinx"]["config"]
    assert sph["html_static_path"][0] == "_vendor"
    for folder in sph["html_static_path"]:  # a static folder named _static would add its .js to every page
        assert Path(folder).name != "_static"
    for css in sph.get("html_css_files", []):
        assert any((ROOT / folder / css).is_file() for folder in sph["html_static_path"][1:]), css
    assert not sph["mathjax_path"].startswith("http")
    assert all(not k.startswith("http") for k in sph["nb_ipywidgets_js"])
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert (ROOT / f"{toc['root']}.md").is_file()


def test_toc_parsing_and_parameters(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: book/executed/b\n"
        "        sections:\n          - file: book/method.md\n          - file: book/executed/a.ipynb\n"
    )
    assert book.toc_files(tmp_path) == ["book/intro", "book/executed/b", "book/method", "book/executed/a"]
    assert book.toc_notebooks(tmp_path) == ["b", "a"]
    cfg = {"notebooks": {"a": {"all": {"n": 1, "m": 2}, "smoke": {"n": 0}}}}
    assert book.notebook_parameters(cfg, "a", "smoke") == {"profile": "smoke", "n": 0, "m": 2}
    assert book.notebook_parameters(cfg, "a", "full") == {"profile": "full", "n": 1, "m": 2}
    assert book.notebook_parameters(cfg, "b", "quick") == {"profile": "quick"}
    # inconsistencies are reported
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "profiles.yml").write_text("notebooks:\n  c: {smoke: {}}\n  a: {fast: {}}\n")
    problems = "\n".join(book.check_config(tmp_path))
    assert "notebooks/b.ipynb is missing" in problems and "'c'" in problems and "fast" in problems


def test_default_profile(tmp_path):
    from ddx7.pipeline import default_profile

    assert default_profile(tmp_path) == "quick"
    (tmp_path / "results" / "full").mkdir(parents=True)
    (tmp_path / "results" / "full" / ".complete").touch()
    assert default_profile(tmp_path) == "full"


def _mini_book(tmp_path: Path, code: str) -> Path:
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/t\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters", "hide-cell"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "t.ipynb")
    return tmp_path


def test_notebook_runs_in_this_interpreter(tmp_path, monkeypatch):
    root = _mini_book(tmp_path, "import os, sys\nprint(sys.executable)\nprint(os.getcwd())\nprint(profile)")
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    book._use_this_interpreter_kernel()
    out = book.execute_notebook(root, "t", "quick")
    assert out == root / "book" / "executed" / "t.ipynb"
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    exe, cwd, profile = text.split()
    assert Path(exe).resolve() == Path(sys.executable).resolve()
    assert Path(cwd).resolve() == (root / "notebooks").resolve()
    assert profile == "quick"
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "hide-cell" in injected[0].metadata["tags"]


def test_failing_cell_fails_the_build(tmp_path, monkeypatch):
    root = _mini_book(tmp_path, "raise ValueError('boom')")
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    book._use_this_interpreter_kernel()
    with pytest.raises(book.BookError, match="boom"):
        book.execute_notebook(root, "t", "smoke")
    assert not (root / "book" / "executed" / "t.ipynb").exists()


def test_unknown_parameter_is_an_error(tmp_path, monkeypatch):
    root = _mini_book(tmp_path, "print(1)")
    (root / "notebooks" / "profiles.yml").write_text(json.dumps({"notebooks": {"t": {"all": {"n_steps": 3}}}}))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    with pytest.raises(book.BookError, match="n_steps"):
        book.execute_notebook(root, "t", "smoke")
