"""Where a run's checkpoints live, how they are read, and who may write them.

A run directory ``<root>/<profile>/<run>/`` holds ``last.pt`` (the whole training state: the commit
point of a resumable run), ``best.pt`` (the weights of the best validation step), ``log.csv`` and
``.lock``, and ``step-NNNNNN.pt`` snapshots (the weights at the steps listed in
``train.snapshot_steps``, for test metrics along the way). Checkpoints are read with
``torch.load(weights_only=True)``: a checkpoint is data, and a
file that would need the full unpickler (which runs whatever callables the pickle names) is refused
with a one-line error instead of being executed. Every file ddx7 writes (checkpoints included)
contains tensors, numbers, strings, lists, tuples and dicts only.

Also here: the order a checkpoint's files are written in (kill-safe), the per-run lock, and the Ctrl-C
handling that lets a training stop at a checkpoint instead of in the middle of a step.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import pickle
import re
import signal
import threading
from pathlib import Path

import torch

from .atomic import remove_stale_temps, torch_save, write_text
from .models import build_model
from .runs import run_config

CHECKPOINT_ROOT = Path(os.environ.get("DDX7_CHECKPOINTS", "checkpoints"))
RUN_FILES = ("last.pt", "best.pt", "log.csv")  # what a training writes (and --restart deletes)
LOCK_NAME = ".lock"
LOG_FIELDS = ["step", "split", "loss", "lr", "wall_s"]
BEST_KEYS = ("config", "run_config", "model", "step", "best_valid", "manifest_hash", "extractor")  # of last.pt
SNAPSHOT_KEYS = BEST_KEYS + ("wall_s",)


def run_dir(name: str, profile: str, root=None) -> Path:
    return Path(root or CHECKPOINT_ROOT) / profile / name


def snapshot_path(out_dir, step: int) -> Path:
    return Path(out_dir) / f"step-{step:06d}.pt"


def snapshot_paths(out_dir) -> list[Path]:
    """A run's snapshots, in step order."""
    return sorted(Path(out_dir).glob("step-[0-9][0-9][0-9][0-9][0-9][0-9].pt"))


def snapshot_step(path) -> int:
    """The training step of a snapshot file named by :func:`snapshot_path`."""
    return int(Path(path).stem.removeprefix("step-"))


def _refused_globals(path: Path, error: Exception) -> list[str]:
    """The globals (classes, functions) that made the weights-only unpickler refuse ``path``; [] when it
    failed for another reason (truncated or garbage file). Found without unpickling anything."""
    with contextlib.suppress(Exception):  # zip checkpoints (torch.save's format since 1.6): scan the pickle
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        if names:
            return names
    if isinstance(error, pickle.UnpicklingError):  # legacy format: the refusal message names the global
        return re.findall(r"GLOBAL ([\w.]+)", str(error))[:1]
    return []


def _first_sentence(error: Exception) -> str:
    """What went wrong, in one short line: torch's messages run to paragraphs of advice."""
    text = str(error)
    if "WeightsUnpickler error:" in text:  # the weights-only unpickler's verdict follows its generic advice
        text = text.split("WeightsUnpickler error:", 1)[1]
    text = next((para for para in text.split("\n\n") if para.strip()), "")
    text = " ".join(text.split()).split(". ")[0][:160]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def load_checkpoint(path) -> dict:
    """Load a checkpoint as data only, with a clear one-line error for missing, corrupt or unsafe files."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, a global the weights-only unpickler refuses
        refused = _refused_globals(path, e)
        if refused:
            raise ValueError(f"checkpoint {path} holds objects other than tensors and plain data (possibly code: "
                             f"{', '.join(refused[:3])}); refusing to load it") from None
        detail = "an empty file" if path.is_file() and path.stat().st_size == 0 else _first_sentence(e)
        raise ValueError(f"checkpoint {path} is corrupt or unreadable ({detail})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"checkpoint {path} is not a ddx7 checkpoint (needs 'config' and 'model')")
    return ckpt


def readable_checkpoint(path) -> dict | None:
    """The checkpoint at ``path``, or None if it is missing or cannot be loaded."""
    try:
        return load_checkpoint(path)
    except (ValueError, FileNotFoundError):
        return None


def load_model(path, device="cpu"):
    """(model in eval mode, checkpoint dict) from a checkpoint file."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["config"])
    state = {k: v.float() if torch.is_floating_point(v) else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"checkpoint {path} does not fit its model config: {e}") from None
    return model.to(device).eval(), ckpt


def is_finished(name: str, profile: str, root=None) -> bool:
    """A run is finished when ``last.pt`` has reached the steps its config asks for *and* ``best.pt`` is readable.

    Without the second condition a run whose best.pt was lost (a kill between the two writes of older
    ddx7 versions, a deleted file) would be reported finished and skipped forever; resuming it writes
    best.pt again (see ``Trainer.run``)."""
    d = run_dir(name, profile, root)
    last = readable_checkpoint(d / "last.pt")
    # the steps today's config asks for, not last.pt's "finished" flag: a raised train.steps extends the run
    steps = run_config(name, profile)["train"]["steps"]
    return bool(last and last.get("step", 0) >= steps) and readable_checkpoint(d / "best.pt") is not None


def log_text(rows: list[dict]) -> str:
    """log.csv's content: one row per logged training step and per validation."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_checkpoint(out_dir, state: dict, best: bool = False, snapshot: bool = False):
    """Write log.csv, then best.pt (when ``best``: a subset of ``state``), then the step's snapshot (when
    ``snapshot``), then last.pt, in that order.

    last.pt is the commit point: a resume restarts from it and replays the same steps. So the files
    written before it may run ahead of it (the replay rewrites them the same way) but never behind,
    and a kill at any moment leaves a run that resumes and finishes with a best.pt and a full log.
    (Writing last.pt first, as before, lost best.pt for good when killed in between: the replayed run
    saw no new best; and a finished run killed before its log.csv kept a stale log.)"""
    out_dir = Path(out_dir)
    write_text(out_dir / "log.csv", log_text(state["rows"]))
    if best:
        torch_save({k: state[k] for k in BEST_KEYS}, out_dir / "best.pt")
    if snapshot:
        write_snapshot(out_dir, state)
    torch_save(state, out_dir / "last.pt")


def write_snapshot(out_dir, state: dict):
    """The weights of ``state``'s step as ``step-NNNNNN.pt`` (SNAPSHOT_KEYS of a training state)."""
    torch_save({k: state[k] for k in SNAPSHOT_KEYS}, snapshot_path(out_dir, state["step"]))


def remove_stale_run_temps(out_dir) -> list[Path]:
    """Temporary files a SIGKILLed writer left beside the run files (call it holding the run lock)."""
    files = [Path(out_dir) / f for f in RUN_FILES] + snapshot_paths(out_dir)
    return [p for f in files for p in remove_stale_temps(f)]


@contextlib.contextmanager
def run_lock(out_dir, name: str | None = None):
    """Hold an exclusive lock on a run directory, so that two trainings of one run never interleave
    their checkpoints (each would resume, overwrite and delete the other's files).

    ``flock`` on ``<out_dir>/.lock``: the kernel drops it when the holder exits, killed or not, so a
    crash never leaves a stale lock. The holder's pid is written into the file for the error message.
    Locks belong to the open file description, so a second ``run_lock`` in the same process conflicts
    too. The file itself stays (removing it would let a waiting process lock a deleted inode)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        finally:
            os.close(fd)
        raise ValueError(f"run {name or out_dir} is being trained by process {holder} (lock {path}); "
                         f"wait for it or stop it") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def ctrl_c_requests():
    """Ctrl-C (SIGINT) during training: the first sets ``flag["requested"]`` and the loop stops after its
    step with a checkpoint; a second raises KeyboardInterrupt at once (atomic writes leave no partial
    file). Only the main thread may set handlers (elsewhere Ctrl-C stays a KeyboardInterrupt); the
    previous handler is restored. Nothing is printed in the handler: it may interrupt a print."""
    flag = {"requested": False}

    def handle(signum, frame):
        if flag["requested"]:
            raise KeyboardInterrupt
        flag["requested"] = True

    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield flag
    finally:  # None: a handler not set from Python; the default one is the best stand-in
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
