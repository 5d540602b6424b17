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
