"""Training: multi-scale spectral loss, Adam, exponential learning-rate decay, gradient clipping.

Resumable: every ``checkpoint_every`` steps the whole state (weights, optimiser, scheduler, RNG
states of the sampler and of dropout, the log so far, wall time) is written atomically (temporary
file + rename) to ``<out>/<profile>/<run>/last.pt``; the best validation checkpoint goes to
``best.pt``. A killed run restarted from ``last.pt`` replays the same batches and dropout masks,
so it ends with the same weights as an uninterrupted one; so does one stopped by Ctrl-C, which checkpoints
after the current step. One training per run at a time (a lock: see :mod:`ddx7.checkpoints`).

Runs under ``torchrun --nproc_per_node N`` as PyTorch DDP (gloo on CPU, NCCL on GPUs): each rank
draws its own batches, gradients are averaged, rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from . import HOP
from .checkpoints import (
    RUN_FILES,
    ctrl_c_requests,
    load_checkpoint,
    readable_checkpoint,
    remove_stale_run_temps,
    run_dir,
    run_lock,
    snapshot_path,
    snapshot_paths,
    write_checkpoint,
    write_snapshot,
)
from .data import load_manifest, load_split
from .data.batches import loudness_noise, sample_batch
from .denormals import flush_denormals
from .eval.evaluate import evaluate_run
from .losses import MultiScaleSpectralLoss
from .models import build_model
from .provenance import cpu_model
from .runs import config_changes, config_hash, model_kwargs, run_config


@dataclass
class Split:
    """Excerpts of one split: audio [N, T·hop], f0_hz [N, T], loudness_db [N, T] (float32 tensors)."""

    audio: torch.Tensor
    f0_hz: torch.Tensor
    loudness_db: torch.Tensor

    def __post_init__(self):
        n, t = self.f0_hz.shape
        if self.loudness_db.shape != (n, t) or self.audio.shape != (n, t * HOP):
            raise ValueError(f"inconsistent split shapes: audio {tuple(self.audio.shape)}, "
                             f"f0 {tuple(self.f0_hz.shape)}, "
                             f"loudness {tuple(self.loudness_db.shape)}")
        if n == 0:
            raise ValueError("split has no excerpts")

    @classmethod
    def from_arrays(cls, arrays: dict) -> "Split":
        return cls(*(torch.as_tensor(np.asarray(arrays[k]), dtype=torch.float32)
                     for k in ("audio", "f0_hz", "loudness_db")))

    def __len__(self):
        return self.f0_hz.shape[0]


@dataclass
class Dataset:
    train: Split
    valid: Split
    manifest_hash: str
    extractor: str = "unknown"


def lr_schedule(optimizer, tc: dict):
    """The learning rate per step: ``lr_schedule: exponential`` (default: × ``lr_decay`` every
    ``lr_decay_steps``) or ``cosine`` (from lr to ``lr_min`` over ``steps``), after a linear warm-up
    of ``warmup_steps`` (default 0)."""
    kind, warmup, steps = tc.get("lr_schedule", "exponential"), tc.get("warmup_steps", 0), tc["steps"]
    if kind not in ("exponential", "cosine"):
        raise ValueError(f"train.lr_schedule must be exponential or cosine, got {kind!r}")
    gamma = tc["lr_decay"] ** (1 / tc["lr_decay_steps"])
    if kind == "exponential" and not warmup:
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
    floor = tc.get("lr_min", 0.0) / tc["lr"]

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        if kind == "exponential":
            return ramp * gamma ** step
        progress = min(1.0, max(0, step - warmup) / max(1, steps - warmup))
        return ramp * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def load_dataset(instrument: str, profile: str, data_root="data") -> Dataset:
    """The dataset built by ``ddx7 data build --profile PROFILE`` for one instrument."""
    manifest = load_manifest(profile, instrument, root=data_root)
    return Dataset(Split.from_arrays(load_split(profile, instrument, "train", root=data_root)),
                   Split.from_arrays(load_split(profile, instrument, "valid", root=data_root)),
                   manifest["manifest_hash"], str(manifest.get("extractor", {}).get("method", "unknown")))


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def pick_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    return torch.device(device)


PRECISIONS = ("fp32", "bf16")


class Trainer:
    def __init__(self, cfg: dict, dataset: Dataset, out_dir: Path, device=None, threads: int | None = None,
                 progress: bool = True):
        self.cfg = cfg
        self.tc = cfg["train"]
        self.snapshot_steps = set(self.tc.get("snapshot_steps", []))
        self.data = dataset
        self.out_dir = Path(out_dir)
        self.rank, self.world = _distributed()
        self.device = pick_device(device)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", self.rank % torch.cuda.device_count())
        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.progress = progress and self.rank == 0
        torch.manual_seed(cfg["seed"])
        self.model = build_model(model_kwargs(cfg)).to(self.device)
        self.net = DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.loss_fn = MultiScaleSpectralLoss(cfg["loss"]["fft_sizes"], cfg["loss"]["overlap"],
                                              eps=cfg["loss"].get("eps", 1e-7)).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.tc["lr"])
        # train.precision (absent: fp32): "bf16" runs the decoder's forward and backward under bf16 autocast
        # (an option, never the default; the synth, reverb, loss, weights and validation stay float32).
        self.precision = self.tc.get("precision", "fp32")
        if self.precision not in PRECISIONS:
            raise ValueError(f"train.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        self.sched = lr_schedule(self.opt, self.tc)
        self.gen = torch.Generator().manual_seed(cfg["seed"] + 1000 * self.rank)
        self.step = 0
        self.best = math.inf
        self.best_missing = False  # set by resume: last.pt without a readable best.pt
        self.rows: list[dict] = []
        self.wall = 0.0

    # --- state -------------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    def state(self) -> dict:
        """Everything a resume needs, as tensors and plain Python data (so it loads with weights_only=True)."""
        rng = {"sampler": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.world > 1:
            gathered = [None] * self.world
            dist.all_gather_object(gathered, rng)
            rng = {"ranks": gathered}
        return {
            "config": self.model.config, "run_config": self.cfg, "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(), "step": self.step,
            "best_valid": self.best, "rows": self.rows, "wall_s": self.wall, "rng": rng,
            "manifest_hash": self.data.manifest_hash, "extractor": self.data.extractor,
            "finished": self.step >= self.tc["steps"],
            "world_size": self.world,
        }

    def resume(self, path: Path | None = None) -> bool:
        """Continue from ``last.pt`` if there is one (False if none), removing the temporary files of a
        killed writer (the caller holds the run lock, as ``train_run`` does). Without a readable best.pt
        (lost by a kill in older versions, or deleted) the best is forgotten, so that the next validation
        writes best.pt again; a finished run gets it from its final weights in ``run``."""
        path = path or self.last_path
        if self.rank == 0:
            remove_stale_run_temps(self.out_dir)
        if not path.exists():
            return False
        try:
            ckpt = load_checkpoint(path)
        except ValueError as e:
            raise ValueError(f"{e}; rerun with --restart to start this run over") from None
        changes = config_changes(ckpt.get("run_config"), self.cfg)
        if changes:
            raise ValueError(f"checkpoint {path} was trained with another config ({'; '.join(changes)}); "
                             "use --restart to train this run again")
        if ckpt.get("manifest_hash") != self.data.manifest_hash:
            raise ValueError(f"checkpoint {path} was trained on dataset {ckpt.get('manifest_hash')}, "
                             f"not on the current one ({self.data.manifest_hash}); use --restart")
        if ckpt.get("world_size", 1) != self.world:
            raise ValueError(f"checkpoint {path} was written by {ckpt.get('world_size', 1)} processes, "
                             f"this run has {self.world}")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        self.step, self.best, self.rows, self.wall = ckpt["step"], ckpt["best_valid"], ckpt["rows"], ckpt["wall_s"]
        rng = ckpt["rng"]["ranks"][self.rank] if "ranks" in ckpt["rng"] else ckpt["rng"]
        self.gen.set_state(rng["sampler"])
        torch.set_rng_state(rng["torch"])
        self.best_missing = readable_checkpoint(self.best_path) is None
        if self.best_missing:
            self.best = math.inf
        # a run extended past its old end (train.steps raised, snapshot_steps holding the old end) gets the
        # snapshot of that end from the checkpoint it resumes (one process: under torchrun it is skipped)
        if self.world == 1 and self.step in self.snapshot_steps and not snapshot_path(self.out_dir, self.step).exists():
            write_snapshot(self.out_dir, self.state())
        return True

    def checkpoint(self, best: bool = False):
        """last.pt (and best.pt when this step is a new best, a snapshot at a snapshot step) and log.csv,
        in a kill-safe order."""
        state = self.state()  # collective under DDP: every rank takes part
        if self.rank == 0:
            write_checkpoint(self.out_dir, state, best, snapshot=self.step in self.snapshot_steps)

    def write_missing_best(self):
        """A finished run without a readable best.pt: its best step is lost, the final weights stand in."""
        self.best, self.best_missing = self.validate(), False
        self.checkpoint(best=True)
        if self.rank == 0:
            print(f"{self.cfg['name']}: finished at step {self.step} but best.pt was missing or unreadable; "
                  f"wrote it from the final weights (valid MSS {self.best:.4f})", flush=True)

    # --- loop ---------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, batch: int = 8) -> float:
        self.model.eval()
        v = self.data.valid
        total = 0.0
        for i in range(0, len(v), batch):
            sl = slice(i, i + batch)
            pred = self.model(v.f0_hz[sl].to(self.device), v.loudness_db[sl].to(self.device))
            total += self.loss_fn(pred, v.audio[sl].to(self.device)).item() * pred.shape[0]
        self.model.train()
        return total / len(v)

    def train_step(self) -> float:
        f0, ld, audio = sample_batch(self.data.train, self.tc["batch_size"], self.tc["excerpt_frames"], self.gen)
        ld = loudness_noise(ld, self.tc.get("loudness_noise_db"), self.gen)
        f0, ld, audio = f0.to(self.device), ld.to(self.device), audio.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            prediction = self.net(f0, ld)
        loss = self.loss_fn(prediction, audio)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc["grad_clip"])
        self.opt.step()
        self.sched.step()
        return loss.item()

    def _stop_requested(self, ctrl_c: dict) -> bool:
        """Ctrl-C seen (by any rank under DDP: all must stop after the same step, for the collectives)."""
        ctrl_c["requested"] |= _POOL_STOP is not None and _POOL_STOP.is_set()  # a --jobs parent interrupted
        if self.world == 1:
            return ctrl_c["requested"]
        flag = torch.tensor([float(ctrl_c["requested"])], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def run(self, max_steps: int | None = None) -> dict:
        """Train until the configured number of steps (or ``max_steps`` more); returns a summary. Ctrl-C
        finishes the current step, checkpoints it (best.pt only if it validated as a new best) and returns
        ``interrupted``: a rerun resumes there and ends with the same weights as an uninterrupted run."""
        from tqdm.auto import tqdm

        total = self.tc["steps"]
        stop = total if max_steps is None else min(total, self.step + max_steps)
        if self.step >= total and self.best_missing:
            self.write_missing_best()
        self.model.train()
        bar = tqdm(total=total, initial=self.step, desc=self.cfg["name"], disable=not self.progress,
                   dynamic_ncols=True)
        running, count = 0.0, 0
        interrupted = False
        t0 = time.perf_counter()
        with ctrl_c_requests() as ctrl_c, flush_denormals():  # ddx7/denormals.py: 2x late in a run
            try:
                while self.step < stop:
                    loss = self.train_step()
                    self.step += 1
                    running, count = running + loss, count + 1
                    bar.update(1)
                    lr = self.sched.get_last_lr()[0]
                    now = self.wall + time.perf_counter() - t0
                    if self.step % self.tc["log_every"] == 0 or self.step == stop:
                        self.rows.append({"step": self.step, "split": "train", "loss": running / count, "lr": lr,
                                          "wall_s": round(now, 3)})
                        bar.set_postfix(loss=f"{running / count:.3f}", best=f"{self.best:.3f}")
                        running, count = 0.0, 0
                    validated = self.step % self.tc["valid_every"] == 0 or self.step == total
                    is_best = False
                    if validated:
                        v = self.validate()
                        self.rows.append({"step": self.step, "split": "valid", "loss": v, "lr": lr,
                                          "wall_s": round(now, 3)})
                        is_best = v < self.best
                        self.best = min(self.best, v)
                    interrupted = self._stop_requested(ctrl_c)
                    if (validated or self.step % self.tc["checkpoint_every"] == 0 or self.step == stop or interrupted
                            or self.step in self.snapshot_steps):
                        self.wall += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        self.checkpoint(best=is_best)
                    if interrupted:
                        break
            finally:
                bar.close()
        return {"run": self.cfg["name"], "step": self.step, "best_valid": self.best, "wall_s": round(self.wall, 1),
                "threads": self.threads, "world_size": self.world, "device": str(self.device),
                "finished": self.step >= total, "interrupted": interrupted}


def train_run(name: str, profile: str, data_root="data", out_root=None, device=None, threads=None,
              restart=False, max_steps=None, progress=True, dataset: Dataset | None = None) -> dict:
    """Train (or resume) one run, holding its directory's lock throughout, --restart deletion included
    (under torchrun rank 0 holds it for all ranks; a refusal there ends the job)."""
    cfg = run_config(name, profile)
    out = run_dir(name, profile, out_root)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    with run_lock(out, name) if rank0 else contextlib.nullcontext():
        dataset = dataset or load_dataset(cfg["data"]["instrument"], profile, data_root)
        trainer = Trainer(cfg, dataset, out, device, threads, progress)
        if restart and trainer.rank == 0:
            for f in [out / f for f in RUN_FILES] + snapshot_paths(out):
                f.unlink(missing_ok=True)
            remove_stale_run_temps(out)
        if restart and trainer.world > 1:
            dist.barrier()
        resumed = False if restart else trainer.resume()
        if resumed and trainer.progress:
            print(f"{name}: resuming from step {trainer.step}")
        summary = trainer.run(max_steps)
    summary.update(resumed=resumed, config_hash=config_hash(cfg), manifest_hash=dataset.manifest_hash,
                   machine=cpu_model())
    return summary


# Relative CPU cost of one training step (batch 8 × 1 s, 1 thread): HpN's 512-unit GRU vs the TCN.
STEP_COST = {"hpn": 5.5, "ddx7": 1.0}


@dataclass(frozen=True)
class TrainJob:
    """The arguments of one :func:`train_run` in :func:`train_many` (picklable: it goes to --jobs workers)."""

    name: str
    profile: str
    data_root: str | os.PathLike = "data"
    out_root: str | os.PathLike | None = None
    device: str | None = None
    threads: int | None = None
    restart: bool = False
    max_steps: int | None = None
    progress: bool = True


def _train_job(job: TrainJob, evaluate: bool = False, results_root="results") -> dict:
    if _POOL_STOP is not None and _POOL_STOP.is_set():  # interrupted before this run began
        return {"run": job.name, "step": None, "finished": False, "interrupted": True}
    summary = train_run(**asdict(job))
    if evaluate and summary["finished"]:
        metrics = evaluate_run(job.name, job.profile, job.data_root, job.out_root, results_root, progress=False)
        summary["eval"] = {"mss": metrics["mss"], "fad": {k: v.get("fad") for k, v in metrics["fad"].items()},
                           "eval_wall_s": metrics["eval_wall_s"]}
    return summary


def longest_first(names, profile: str) -> list:
    """Order runs by expected cost so that parallel workers finish together (the slowest start first)."""
    return sorted(names, key=lambda n: -STEP_COST.get(run_config(n, profile)["model"]["kind"], 1.0))


def train_many(names, profile: str, *, jobs: int = 1, threads: int | None = None, data_root="data", out_root=None,
               device=None, restart=False, max_steps=None, evaluate=False, results_root="results"):
    """Train several runs; with jobs > 1 in that many processes of one torch thread each. Yields summaries.

    With ``evaluate`` each run is evaluated (``ddx7 eval``) by its worker as soon as it has finished, so
    evaluation overlaps the remaining training."""
    from functools import partial

    jobs = max(1, min(jobs, len(names)))
    threads = threads or (1 if jobs > 1 else None)
    names = longest_first(names, profile) if jobs > 1 else list(names)
    work = [TrainJob(n, profile, data_root, out_root, device, threads, restart, max_steps, progress=jobs == 1)
            for n in names]
    job = partial(_train_job, evaluate=evaluate, results_root=results_root)
    if jobs == 1:
        yield from (job(w) for w in work)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_pool_worker, initargs=(stop,)) as pool:
        try:
            yield from pool.map(job, work)
        except BaseException:  # Ctrl-C, an error, or the caller stopped early (GeneratorExit)
            stop.set()  # running runs checkpoint and stop after their step; queued ones (some are already
            pool.shutdown(wait=True, cancel_futures=True)  # handed to workers, past cancelling) do not start
            raise


_POOL_STOP = None  # in a --jobs worker: the parent's stop event


def _pool_worker(stop):
    """Pool workers ignore Ctrl-C except while training (Trainer.run's handler checkpoints and stops), or an
    idle one would die with a traceback; the parent reports it and sets ``stop``, which all workers obey."""
    global _POOL_STOP
    _POOL_STOP = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)

