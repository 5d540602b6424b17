"""``ddx7 bench denormals``: a trained state's step with float32 denormals kept, beside it flushed.

A fresh model has no denormals, so ``ddx7 bench train`` cannot see them; they grow over a run
(ddx7/denormals.py). This benchmark resumes a training checkpoint (``last.pt`` or a snapshot with its
optimizer: weights, Adam's moments) and times the training step the trainer takes, public API only:
``model(f0, loudness)``, ``MultiScaleSpectralLoss``, ``loss.backward()``, gradient clipping,
``Adam.step()``, on the run's own training crops. The two modes alternate over the repeats, each
starting from the checkpoint's state with the same crops, so that a busy machine slows both alike; a
part's time is its median. It also counts the denormals in the weights, Adam's moments and the gradients.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from .checkpoints import load_checkpoint
from .denormals import count_denormals, flush_denormals
from .provenance import cpu_model, provenance
from .train import Trainer, load_dataset, sample_batch

PARTS = ("forward + loss", "backward", "optimizer", "step")


def _timed_steps(trainer: Trainer, batches, flush: bool, state) -> dict:
    """Seconds per part, per step, over ``batches``, from ``state`` (weights, optimizer)."""
    trainer.model.load_state_dict(state[0])
    trainer.opt.load_state_dict(state[1])
    times = {part: [] for part in PARTS}
    with flush_denormals(flush):
        for f0, ld, audio in batches:
            t0 = time.perf_counter()
            loss = trainer.loss_fn(trainer.model(f0, ld), audio)
            t1 = time.perf_counter()
            trainer.opt.zero_grad(set_to_none=True)
            loss.backward()
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), trainer.tc["grad_clip"])
            trainer.opt.step()
            t3 = time.perf_counter()
            for part, seconds in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                times[part].append(seconds)
    return times


def run_denormal_bench(checkpoint, profile: str = "full", data_root="data", steps: int = 4, repeats: int = 3,
                       dataset=None) -> tuple[pd.DataFrame, dict]:
    """(table: one row per mode, each part's median ms and the step's ratio; info: counts, machine). The
    run's config is the checkpoint's own; its crops come from ``dataset`` or the profile's data."""
    ckpt = load_checkpoint(checkpoint)
    if "optimizer" not in ckpt:
        raise ValueError(f"{checkpoint} holds no optimizer state: give a run's last.pt (its Adam moments "
                         "hold most of the denormals)")
    cfg = ckpt["run_config"]
    name = cfg["name"]
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, dataset or load_dataset(cfg["data"]["instrument"], profile, data_root), Path(out),
                          threads=torch.get_num_threads(), progress=False)
        trainer.resume(Path(checkpoint))
    state = copy.deepcopy((trainer.model.state_dict(), trainer.opt.state_dict()))
    gen = torch.Generator().manual_seed(0)
    batches = [sample_batch(trainer.data.train, trainer.tc["batch_size"], trainer.tc["excerpt_frames"], gen)
               for _ in range(steps + 1)]
    # The checkpoint's own weights and moments are counted before any step; the warm-up step's gradients after
    # its backward (one forward and backward: the same as the steps timed below).
    moments = {k: [s[k] for s in trainer.opt.state.values()] for k in ("exp_avg", "exp_avg_sq")}
    counts = {"weights": count_denormals(trainer.model.parameters()),
              **{f"Adam {k}": count_denormals(v) for k, v in moments.items()}}
    f0, ld, audio = batches[0]
    trainer.opt.zero_grad(set_to_none=True)
    trainer.loss_fn(trainer.model(f0, ld), audio).backward()
    counts["gradients"] = count_denormals(p.grad for p in trainer.model.parameters())
    torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), trainer.tc["grad_clip"])
    trainer.opt.step()
    times = {False: {p: [] for p in PARTS}, True: {p: [] for p in PARTS}}
    for _ in range(repeats):
        for flush in (False, True):
            for part, seconds in _timed_steps(trainer, batches[1:], flush, state).items():
                times[flush][part] += seconds
    rows = [{"denormals": "flushed" if flush else "kept",
             **{f"{p} (ms)": 1e3 * statistics.median(times[flush][p]) for p in PARTS}} for flush in (False, True)]
    table = pd.DataFrame(rows)
    table["speed-up"] = table["step (ms)"].iloc[0] / table["step (ms)"]
    info = {"run": name, "step": ckpt["step"], "profile": profile, "batch": trainer.tc["batch_size"],
            "frames": trainer.tc["excerpt_frames"], "steps": steps * repeats, "cpu": cpu_model(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "denormals": counts}
    return table, info


def format_denormal_bench(table: pd.DataFrame, info: dict) -> str:
    counts = "; ".join(f"{k} {n:,} of {total:,} ({100 * n / max(total, 1):.1f} %)"
                       for k, (n, total) in info["denormals"].items())
    with pd.option_context("display.width", 160, "display.float_format", "{:.2f}".format):
        return (f"Training step of {info['run']} at step {info['step']:,} ({info['profile']}: batch {info['batch']} × "
                f"{info['frames']} frames), median of {info['steps']} steps per mode, alternating\n"
                f"{info['cpu']}, torch {info['torch']}, {info['threads']} thread(s)\n"
                f"denormal float32 values: {counts}\n\n{table.to_string(index=False)}")


def denormal_bench_record(table: pd.DataFrame, info: dict) -> dict:
    """The benchmark as JSON-ready data with its provenance (machine, torch, threads, commit, date)."""
    return {"info": info, "table": table.to_dict(orient="records"), "provenance": provenance(info["threads"])}
