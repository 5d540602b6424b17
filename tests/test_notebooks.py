"""Notebooks run through papermill with non-default parameters and show what they promise."""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def outputs(nb, mime):
    return [o for c in nb.cells for o in c.get("outputs", []) if mime in o.get("data", {})]


def test_synth_tour_with_other_parameters(tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "tour.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "00_synth_tour.ipynb"), str(out), kernel_name="python3",
                               cwd=str(ROOT / "notebooks"), progress_bar=False,
                               parameters={"patch": "trumpet-4osc-y", "imax": 6.283, "f0": 330.0, "seconds": 1.0})
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "trumpet-4osc-y" in injected[0].source
    audio = [o for o in outputs(nb, "text/html") if "<audio" in o["data"]["text/html"]]
    assert len(audio) >= 8 + 3  # one player per patch + three intervention players
    assert len(outputs(nb, "image/png")) >= 8
    titles = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "modulator ratios 1 → 3" in titles


def test_notebooks_call_only_what_their_report_module_has():
    """Every ``report.NAME`` a notebook uses exists in the module it imports as ``report`` (ddx7.report, the
    book's facade, or ddx7.data.report) — without executing the notebook."""
    import importlib
    import re

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        imported = re.search(r"^from (ddx7(?:\.\w+)*) import report$", code, re.M)
        if not imported:
            assert "report." not in code, path.name
            continue
        module = importlib.import_module(f"{imported.group(1)}.report")
        missing = sorted({n for n in re.findall(r"\breport\.(\w+)", code) if not hasattr(module, n)})
        assert not missing, f"{path.name}: {module.__name__} has no {missing}"


def test_tables_shown_inside_a_block_are_displayed():
    """``report.show`` returns a Styler, which Jupyter displays only as a cell's last top-level expression: inside
    an ``if`` or a loop it must be passed to ``display`` (the Table 1 chapter's reverb table was never shown)."""
    import re

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for line in cell.source.splitlines():
                assert not re.match(r"^\s+report\.show\(", line), f"{path.name}: {line.strip()} (wrap it in display)"
