"""pyproject.toml and environment.yml must declare the same Python dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"torchvision", "torchaudio"}


def normalise(reqs: list[str]) -> dict[str, str]:
    """Map canonical name -> sorted specifier string ('' when unpinned); duplicates are an error."""
    out: dict[str, str] = {}
    for line in reqs:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name in out:
            raise ValueError(f"duplicate requirement {name!r}")
        out[name] = ",".join(sorted(str(s) for s in req.specifier))
    return out


def diff(a: dict[str, str], b: dict[str, str]) -> list[str]:
    problems = [f"only in pyproject: {n}{a[n]}" for n in sorted(a.keys() - b.keys())]
    problems += [f"only in environment.yml: {n}{b[n]}" for n in sorted(b.keys() - a.keys())]
    problems += [
        f"{n}: pyproject {a[n]!r} != environment.yml {b[n]!r}"
        for n in sorted(a.keys() & b.keys())
        if a[n] != b[n]
    ]
    return problems


def load_pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def load_env() -> dict:
    with open(ROOT / "environment.yml") as f:
        return yaml.safe_load(f)


def env_pip(env: dict) -> list[str]:
    pips = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, "environment.yml needs exactly one pip: section"
    return [r for r in pips[0] if not r.startswith("-")]


def test_normalise_detects_mismatches():
    # the comparison must be able to fail: a changed pin, a missing and an extra package
    a = normalise(["torch==2.13.0", "pretty_midi", "jupyter-book<2"])
    assert diff(a, normalise(["torch==2.13.0", "pretty-midi", "Jupyter_Book <2"])) == []
    assert diff(a, normalise(["torch==2.12.0", "pretty-midi", "jupyter-book<2"]))
    assert diff(a, normalise(["torch==2.13.0", "jupyter-book<2"]))
    assert diff(a, normalise(["torch==2.13.0", "pretty-midi", "jupyter-book<2", "numpy"]))
    assert diff(a, normalise(["torch==2.13.0", "pretty-midi", "jupyter-book"]))
    with pytest.raises(ValueError):
        normalise(["torch", "Torch==2.13.0"])


def test_dependencies_agree():
    proj = load_pyproject()["project"]
    declared = proj["dependencies"] + proj.get("optional-dependencies", {}).get("test", [])
    problems = diff(normalise(declared), normalise(env_pip(load_env())))
    assert not problems, "\n".join(problems)


def test_nodeps_agree():
    py = load_pyproject()["tool"]["ddx7"]["nodeps"]
    env = load_env().get("nodeps", [])
    assert py, "[tool.ddx7] nodeps must list torchcrepe"
    problems = diff(normalise(py), normalise(env))
    assert not problems, "\n".join(problems)
    assert "torchcrepe" in normalise(py)
    # a no-deps package must not also be a normal dependency (it would pull its deps)
    proj = load_pyproject()["project"]
    assert not normalise(py).keys() & normalise(proj["dependencies"]).keys()


def test_python_version_agrees():
    spec = load_pyproject()["project"]["requires-python"]
    pythons = [d for d in load_env()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(pythons) == 1
    version = re.fullmatch(r"python\s*=+\s*([\d.]+)\*?", pythons[0]).group(1)
    assert Requirement(f"python{spec}").specifier.contains(version)


def test_no_cuda_torch_extras():
    proj = load_pyproject()
    everything = (
        proj["project"]["dependencies"]
        + [r for extra in proj["project"].get("optional-dependencies", {}).values() for r in extra]
        + proj["tool"]["ddx7"]["nodeps"]
        + env_pip(load_env())
    )
    names = {canonicalize_name(Requirement(r).name) for r in everything}
    assert not FORBIDDEN & names


def test_makefile_reads_nodeps_from_pyproject():
    lines = (ROOT / "Makefile").read_text().splitlines()
    make = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "nodeps" in make and "pyproject.toml" in make
    assert "torchcrepe" not in make, "the Makefile should read the no-deps list, not repeat it"
