"""Build the Jupyter Book: execute the notebooks with papermill, then `jupyter-book build .`.

Which notebooks and in which order: the entries ``book/executed/NAME`` of ``_toc.yml``.
Per-profile papermill parameters: ``notebooks/profiles.yml``. Each notebook is executed from
``notebooks/NAME.ipynb`` (cwd ``notebooks/``, kernel ``python3`` of *this* interpreter) into
``book/executed/NAME.ipynb``, which the book renders without executing again.

    ddx7 book --profile smoke [--only NAME]     # the command line: ddx7/cli/book.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

PROFILES = ("smoke", "quick", "full")
EXECUTED_DIR = "book/executed"  # referenced by _toc.yml, git-ignored
SOURCE_DIR = "notebooks"
PROFILES_FILE = "notebooks/profiles.yml"
STAGING_DIR = "_build/papermill"  # papermill writes here; moved to EXECUTED_DIR on success
KERNEL = "python3"


class BookError(RuntimeError):
    """A notebook failed, or the book configuration is inconsistent."""


# --------------------------------------------------------------------------- configuration


def find_root(start: Path | None = None) -> Path:
    """The book root: the nearest folder at/above `start` (default cwd) with _toc.yml, else the
    folder above this package (editable install)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_toc.yml").is_file() and (d / "_config.yml").is_file():
            return d
    return Path(__file__).resolve().parents[1]


def toc_files(root: Path) -> list[str]:
    """All `file:` entries of _toc.yml (root first), in reading order, without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    out: list[str] = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                out.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                if key in node:
                    walk(node[key])

    walk(toc)
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".ipynb", ".md"} else f for f in out]


def toc_notebooks(root: Path) -> list[str]:
    """Names of the notebooks the book executes, in _toc.yml order."""
    prefix = EXECUTED_DIR + "/"
    return [f[len(prefix):] for f in toc_files(root) if f.startswith(prefix)]


def load_profiles(root: Path) -> dict:
    path = root / PROFILES_FILE
    cfg = yaml.safe_load(path.read_text()) if path.exists() else None
    cfg = cfg or {}
    cfg.setdefault("notebooks", {})
    cfg["notebooks"] = {k: (v or {}) for k, v in (cfg["notebooks"] or {}).items()}
    return cfg


def notebook_parameters(cfg: dict, name: str, profile: str) -> dict:
    """Papermill parameters of notebook `name` under `profile` (always includes `profile`)."""
    entry = cfg["notebooks"].get(name, {})
    params = {"profile": profile}
    params.update(entry.get("all") or {})
    params.update(entry.get(profile) or {})
    return params


def notebook_timeout(cfg: dict, name: str) -> int:
    entry = cfg["notebooks"].get(name, {})
    return int(entry.get("timeout", cfg.get("default_timeout", 1800)))


def check_config(root: Path) -> list[str]:
    """Problems with _toc.yml / notebooks / profiles.yml (empty list when consistent)."""
    problems = []
    names = toc_notebooks(root)
    cfg = load_profiles(root)
    if len(set(names)) != len(names):
        problems.append(f"_toc.yml lists a notebook twice: {names}")
    for name in names:
        if not (root / SOURCE_DIR / f"{name}.ipynb").is_file():
            problems.append(f"_toc.yml lists {EXECUTED_DIR}/{name} but {SOURCE_DIR}/{name}.ipynb is missing")
    for name, entry in cfg["notebooks"].items():
        if name not in names:
            problems.append(f"{PROFILES_FILE} has '{name}', which is not in _toc.yml as {EXECUTED_DIR}/{name}")
        unknown = set(entry) - {"all", "timeout", *PROFILES}
        if unknown:
            problems.append(f"{PROFILES_FILE}: '{name}' has unknown keys {sorted(unknown)}")
    return problems


# --------------------------------------------------------------------------- execution


def _use_this_interpreter_kernel() -> None:
    """Make kernel `python3` resolve to this interpreter's ipykernel.

    Jupyter searches JUPYTER_PATH first, then the user's ~/.local/share/jupyter (where a
    `python3` kernel of another Python may be registered), then sys.prefix. Putting
    sys.prefix/share/jupyter first makes the venv's kernelspec win; its argv[0] is `python`,
    which jupyter_client replaces by sys.executable.
    """
    ours = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if not paths or paths[0] != ours:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([ours, *[p for p in paths if p != ours]])
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiet debugpy warning
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    exe = spec.argv[0]
    if exe not in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"} and (
        Path(exe).resolve() != Path(sys.executable).resolve()
    ):
        raise BookError(
            f"kernel '{KERNEL}' ({spec.resource_dir}) runs {exe}, not {sys.executable}; "
            f"reinstall it with: {sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}"
        )


def _tag_injected_cell(path: Path) -> None:
    """Give papermill's `injected-parameters` cell the hide/remove tags of the `parameters`
    cell, so a notebook that hides its parameters also hides the injected ones."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    tags = set()
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            tags |= {t for t in cell.metadata["tags"] if t.startswith(("hide-", "remove-"))}
    if not tags:
        return
    for cell in nb.cells:
        cell_tags = cell.metadata.get("tags", [])
        if "injected-parameters" in cell_tags:
            cell.metadata["tags"] = cell_tags + sorted(tags - set(cell_tags))
    nbformat.write(nb, path)


def execute_notebook(root: Path, name: str, profile: str, cfg: dict | None = None) -> Path:
    """Run notebooks/NAME.ipynb with papermill into book/executed/NAME.ipynb; raise on error."""
    import papermill as pm

    cfg = cfg if cfg is not None else load_profiles(root)
    src = root / SOURCE_DIR / f"{name}.ipynb"
    staged = root / STAGING_DIR / f"{name}.ipynb"
    dst = root / EXECUTED_DIR / f"{name}.ipynb"
    params = notebook_parameters(cfg, name, profile)

    declared = pm.inspect_notebook(str(src))
    unknown = set(params) - set(declared)
    if unknown:
        raise BookError(
            f"{src.relative_to(root)}: parameters {sorted(unknown)} are not assigned in its cell "
            "tagged `parameters` (papermill would inject them silently)"
        )

    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.unlink(missing_ok=True)
    try:
        pm.execute_notebook(
            str(src),
            str(staged),
            parameters=params,
            kernel_name=KERNEL,
            cwd=str(root / SOURCE_DIR),
            execution_timeout=notebook_timeout(cfg, name),
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
        )
    except pm.PapermillExecutionError as e:
        raise BookError(
            f"notebook {name} failed (profile {profile}) in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
            f"  the partly executed notebook is {staged}"
        ) from None
    except Exception as e:  # kernel died, timeout, ...
        raise BookError(f"notebook {name} failed (profile {profile}): {type(e).__name__}: {e}") from e
    _tag_injected_cell(staged)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), str(dst))
    return dst


def jupyter_book_build(root: Path, strict: bool = True) -> None:
    """`jupyter-book build` with this interpreter's jupyter-book; raise on failure."""
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]
    cmd += ["build", str(root), "--all"]
    if strict:
        cmd += ["-W", "--keep-going"]
    res = subprocess.run(cmd, cwd=root)
    if res.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {res.returncode})")
    if not (root / "_build" / "html" / "index.html").is_file():
        raise BookError("jupyter-book build produced no _build/html/index.html")


def build_book(
    profile: str, only: str | list[str] | None = None, root: Path | None = None, strict: bool = True
) -> Path:
    """Execute the book's notebooks for `profile` (all, or only those named in `only`), then
    build the HTML. Returns the path of _build/html/index.html. Raises BookError on failure."""
    if profile not in PROFILES:
        raise BookError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    root = Path(root) if root else find_root()
    problems = check_config(root)
    if problems:
        raise BookError("book configuration:\n  " + "\n  ".join(problems))
    cfg = load_profiles(root)
    names = toc_notebooks(root)
    selected = names
    if only:
        selected = [only] if isinstance(only, str) else list(only)
        missing = [n for n in selected if n not in names]
        if missing:
            raise BookError(f"--only {missing}: not in _toc.yml (notebooks: {names})")
        stale = [n for n in names if n not in selected and not (root / EXECUTED_DIR / f"{n}.ipynb").exists()]
        if stale:
            raise BookError(f"no executed copy of {stale}: build once without --only first")

    _use_this_interpreter_kernel()
    t_all = time.perf_counter()
    for name in selected:
        t0 = time.perf_counter()
        print(f"[book] executing {name} (profile {profile}) ...", flush=True)
        execute_notebook(root, name, profile, cfg)
        print(f"[book] {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    os.environ["DDX7_BOOK_PROFILE"] = profile  # ddx7.web.live_page exports this profile's models for book/live.md
    jupyter_book_build(root, strict=strict)
    index = root / "_build" / "html" / "index.html"
    print(
        f"[book] notebooks {t0 - t_all:.1f} s, jupyter-book {time.perf_counter() - t0:.1f} s -> {index}",
        flush=True,
    )
    return index

