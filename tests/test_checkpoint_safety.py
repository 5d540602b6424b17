"""Checkpoints are data, training survives kills and Ctrl-C with a best.pt, one training per run at a time."""

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_train import ROOT, run_worker, tone_split, worker_summary
from train_worker import make_trainer

import ddx7.cli.train
import ddx7.eval.evaluate
import ddx7.train
from ddx7 import HOP, SAMPLE_RATE
from ddx7.checkpoints import is_finished, load_checkpoint, load_model, run_dir, run_lock
from ddx7.cli import main
from ddx7.runs import run_config
from ddx7.train import Dataset, Trainer, TrainJob, train_run

RUN = "violin-2osc-imax2"  # smoke profile: 4 steps, batch 2, validation and checkpoint every 2 steps


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "data.pt"
    torch.save({"train": vars(tone_split(6, seed=0)), "valid": vars(tone_split(3, seed=1))}, path)
    return path


@pytest.fixture(scope="module")
def straight_weights(data_file, tmp_path_factory):
    """The weights of an uninterrupted 4-step worker run: what every killed/interrupted one must end with."""
    out = tmp_path_factory.mktemp("straight")
    proc = run_worker(data_file, out, 4)
    assert proc.returncode == 0, proc.stderr
    return torch.load(out / "weights_rank0.pt")


@pytest.fixture
def tiny_data(monkeypatch):
    """``ddx7 train`` on tone excerpts instead of a built dataset (manifest hash 'm')."""
    monkeypatch.setattr(ddx7.train, "load_dataset", tone_dataset)


def tone_dataset(*args, **kwargs) -> Dataset:
    return Dataset(tone_split(), tone_split(seed=1), "m", extractor="pyin")


def stale_temps(d: Path) -> list:
    return [p.name for p in d.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- 1. loading a checkpoint never runs code ----------------------------------------------------------
class RunsCode:
    """Unpickled by a full unpickler, this calls os.system: here it only creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, capsys, zip_format):
    from ddx7.models import DDX7

    marker = tmp_path / "code-ran"
    model = DDX7("2osc", 2.0)
    bad = tmp_path / "bad.pt"
    torch.save({"config": model.config, "model": model.state_dict(), "extra": RunsCode(marker)}, bad,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(ValueError, match=r"holds objects other than tensors and plain data \(possibly code: "
                                         r"posix\.system\); refusing to load it"):
        load_checkpoint(bad)
    assert not marker.exists()

    wav, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE) / SAMPLE_RATE), SAMPLE_RATE)
    capsys.readouterr()
    assert main(["resynth", str(wav), "--checkpoint", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ddx7 resynth: error: checkpoint") and "refusing" in err[0]
    assert not marker.exists() and not out.exists()


def test_what_ddx7_writes_loads_as_weights_only(tmp_path):
    """Trainer checkpoints (optimizer, scheduler, RNG states, rows) and the shipped models are plain data."""
    cfg = run_config(RUN, "smoke")
    cfg["train"].update(excerpt_frames=40)
    Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "m"), tmp_path, progress=False).run()
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["step"] == 4 and last["optimizer"]["state"] and last["rng"]["sampler"].dtype == torch.uint8
    assert torch.load(tmp_path / "best.pt", weights_only=True)["step"] in (2, 4)
    shipped = sorted((ROOT / "results").glob("*/**/model.pt"))
    assert shipped
    for path in shipped:
        load_model(path)


def test_run_files_get_the_mode_a_plain_open_gives(tmp_path):
    """Written through ddx7.atomic: not mkstemp's 0600 (unreadable to the group that shares results)."""
    cfg = run_config(RUN, "smoke")
    cfg["train"].update(steps=2, excerpt_frames=40)
    umask = os.umask(0o022)
    try:
        Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "m"), tmp_path, progress=False).run()
    finally:
        os.umask(umask)
    assert {f: (tmp_path / f).stat().st_mode & 0o777 for f in ("last.pt", "best.pt", "log.csv")} == \
        {"last.pt": 0o644, "best.pt": 0o644, "log.csv": 0o644}


def test_aisfx_weights_load_weights_only_and_unchanged(monkeypatch):
    from ddx7.eval import embeddings as emb_mod

    if not emb_mod.aisfx_available():
        pytest.skip("aisfx not installed")
    import aisfx.inference as inf

    full = torch.load(inf.get_path_modelWeights(), map_location="cpu", weights_only=False)  # the wheel's own file
    real_load = torch.load

    def weights_only_load(*args, **kwargs):
        assert kwargs.get("weights_only") is True, "aisfx weights loaded with the full unpickler"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", weights_only_load)
    emb_mod._load_aisfx_model.cache_clear()
    try:
        model = emb_mod._load_aisfx_model("cpu")
    finally:
        emb_mod._load_aisfx_model.cache_clear()  # the next user reloads without the patched torch.load
    reference = inf.load_bestModel(*full, "cpu").state_dict()
    assert same_weights(model.state_dict(), reference)


# --- 2. a kill at any moment of a checkpoint leaves a run that finishes with a best.pt ------------------
# The 4-step worker run renames: log.csv, last.pt at step 2 (renames 1, 2), then at step 4, the final
# validation and a new best, three files (renames 3, 4, 5): the checkpoint that writes a new best.
@pytest.mark.parametrize("phase", ["mid", "before", "after"])
@pytest.mark.parametrize("index", [3, 4, 5])
def test_a_kill_during_a_checkpoint_resumes_to_a_best_pt(data_file, straight_weights, tmp_path, index, phase):
    killed = run_worker(data_file, tmp_path, 4, kill_at_write=f"{index}:{phase}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    trainer = make_trainer(data_file, tmp_path, 4)  # the rerun, in this process: what the worker would do
    trainer.resume()
    assert not stale_temps(tmp_path)
    assert trainer.run()["finished"]
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["finished"] and last["step"] == 4
    model, best = load_model(tmp_path / "best.pt")
    assert best["best_valid"] == last["best_valid"] and best["step"] <= 4
    assert same_weights(trainer.model.state_dict(), straight_weights)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in rows][-2:] == [["4", "train"], ["4", "valid"]]


def test_a_finished_run_that_lost_best_pt_is_resumed_and_gets_one(tmp_path, tiny_data, capsys):
    """The state older versions left when killed between writing last.pt and best.pt."""
    args = ["train", RUN, "--profile", "smoke", "--out", str(tmp_path)]
    assert main(args) == 0
    d = run_dir(RUN, "smoke", tmp_path)
    (d / "best.pt").unlink()
    assert not is_finished(RUN, "smoke", tmp_path)
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "finished, skipped" not in out
    assert f"{RUN}: finished at step 4 but best.pt was missing or unreadable; wrote it from the final weights" in out
    _, best = load_model(d / "best.pt")
    assert best["step"] == 4 and best["best_valid"] == load_checkpoint(d / "last.pt")["best_valid"]
    assert is_finished(RUN, "smoke", tmp_path)
    assert main(args) == 0 and "finished, skipped" in capsys.readouterr().out


def test_a_finished_run_whose_config_asks_for_more_steps_is_resumed(tmp_path, tiny_data, capsys, monkeypatch):
    """Raising train.steps (issue 16's longer budget) makes a finished run unfinished: `ddx7 train` resumes it
    instead of skipping it."""
    import ddx7.checkpoints
    import ddx7.cli.train
    import ddx7.train

    args = ["train", RUN, "--profile", "smoke", "--out", str(tmp_path)]
    assert main(args) == 0 and is_finished(RUN, "smoke", tmp_path)
    original = ddx7.checkpoints.run_config

    def longer(name, profile):
        cfg = original(name, profile)
        cfg["train"]["steps"] += 2
        return cfg

    for module in (ddx7.checkpoints, ddx7.cli.train, ddx7.train):
        if hasattr(module, "run_config"):
            monkeypatch.setattr(module, "run_config", longer)
    assert not is_finished(RUN, "smoke", tmp_path)
    capsys.readouterr()
    assert main(args) == 0 and "finished, skipped" not in capsys.readouterr().out
    assert load_checkpoint(run_dir(RUN, "smoke", tmp_path) / "last.pt")["step"] == 6
    assert is_finished(RUN, "smoke", tmp_path)


def test_an_unfinished_run_that_lost_best_pt_writes_it_at_its_next_validation(tmp_path, tiny_data):
    args = ["train", RUN, "--profile", "smoke", "--out", str(tmp_path)]
    assert main([*args, "--max-steps", "2"]) == 0
    d = run_dir(RUN, "smoke", tmp_path)
    (d / "best.pt").write_bytes(b"")  # unreadable
    assert main(args) == 0
    assert load_checkpoint(d / "best.pt")["step"] == 4  # whatever the loss: the remembered best was forgotten


# --- 3. eval with a corrupt last.pt -------------------------------------------------------------------
def fake_built_dataset(root: Path, n=2, frames=80):
    """The files ``ddx7 eval`` reads of a built smoke/violin dataset: manifest and test split."""
    split = tone_split(n, frames=frames, seed=2)
    d = root / "smoke" / "violin"
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"manifest_hash": "m", "extractor": {"method": "pyin"}}))
    np.savez(d / "test.npz", audio=split.audio.numpy(), f0_hz=split.f0_hz.numpy(),
             loudness_db=split.loudness_db.numpy(), periodicity=np.ones((n, frames), np.float32),
             excerpt_id=np.array([f"x{i}" for i in range(n)]))
    assert split.audio.shape[1] == frames * HOP


def test_eval_with_a_corrupt_last_pt_warns_and_evaluates_best_pt(tmp_path, tiny_data, capsys):
    ckpts, data, results = tmp_path / "ckpt", tmp_path / "data", tmp_path / "results"
    assert main(["train", RUN, "--profile", "smoke", "--out", str(ckpts)]) == 0
    fake_built_dataset(data)
    (run_dir(RUN, "smoke", ckpts) / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    capsys.readouterr()
    assert main(["eval", RUN, "--profile", "smoke", "--data-root", str(data), "--checkpoints", str(ckpts),
                 "--results", str(results), "--embeddings", "mfcc"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    warnings = [line for line in err if "last.pt" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: checkpoint") and "corrupt" in warnings[0]
    assert "left out" in warnings[0] and not any("Traceback" in line for line in err)
    metrics = json.loads((results / "smoke" / RUN / "metrics.json").read_text())
    assert metrics["steps_total"] is None and metrics["train_wall_s"] is None and metrics["steps"] in (2, 4)
    assert np.isfinite(metrics["mss"])


# --- 4. a corrupt last.pt in train ----------------------------------------------------------------------
def test_train_on_a_corrupt_last_pt_says_to_restart(tmp_path, tiny_data, capsys):
    d = run_dir(RUN, "smoke", tmp_path)
    d.mkdir(parents=True)
    (d / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    args = ["train", RUN, "--profile", "smoke", "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{d / 'last.pt'} is corrupt or unreadable" in err[0]
    assert err[0].endswith("rerun with --restart to start this run over")
    assert main([*args, "--restart"]) == 0 and load_checkpoint(d / "last.pt")["finished"]


# --- 5. Ctrl-C --------------------------------------------------------------------------------------------
def test_ctrl_c_checkpoints_and_a_rerun_ends_with_the_same_weights(data_file, straight_weights, tmp_path):
    stopped = run_worker(data_file, tmp_path, 4, sigint_at=3)
    assert stopped.returncode == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr
    summary = worker_summary(stopped)
    assert summary["interrupted"] and summary["step"] == 3 and not summary["finished"]
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["step"] == 3 and not last["finished"]
    assert not (tmp_path / "best.pt").exists()  # step 3 did not validate (valid_every 4)
    trainer = make_trainer(data_file, tmp_path, 4)  # the rerun, in this process
    assert trainer.resume() and trainer.step == 3
    summary = trainer.run()
    assert summary["finished"] and not summary["interrupted"]
    assert same_weights(trainer.model.state_dict(), straight_weights)
    assert load_model(tmp_path / "best.pt")[1]["step"] == 4


def interrupt_during_step(monkeypatch, step: int, times: int = 1):
    """Ctrl-C (``times`` presses) while training step ``step`` runs, in this process."""
    real = Trainer.train_step

    def train_step(self):
        loss = real(self)
        if self.step + 1 == step:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return loss

    monkeypatch.setattr(Trainer, "train_step", train_step)


def test_ctrl_c_in_ddx7_train_says_where_it_stopped(tmp_path, tiny_data, monkeypatch, capsys):
    handler = signal.getsignal(signal.SIGINT)
    interrupt_during_step(monkeypatch, 1)
    args = ["train", RUN, "--profile", "smoke", "--out", str(tmp_path)]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip() and "%|" not in line] == [  # no progress bar
        f"{RUN}: interrupted at step 1; rerun to resume"]
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    d = run_dir(RUN, "smoke", tmp_path)
    assert load_checkpoint(d / "last.pt")["step"] == 1 and not (d / "best.pt").exists()
    monkeypatch.undo()
    monkeypatch.setattr(ddx7.train, "load_dataset", tone_dataset)
    assert main(args) == 0 and load_checkpoint(d / "last.pt")["finished"] and (d / "best.pt").exists()


def test_a_second_ctrl_c_aborts_at_once(tmp_path, monkeypatch):
    handler = signal.getsignal(signal.SIGINT)
    interrupt_during_step(monkeypatch, 1, times=2)
    cfg = run_config(RUN, "smoke")
    trainer = Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "m"), tmp_path, progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert trainer.step == 0 and not (tmp_path / "last.pt").exists()  # stopped inside step 1
    assert signal.getsignal(signal.SIGINT) is handler


def test_ctrl_c_with_jobs_is_reported_without_a_traceback(tmp_path, monkeypatch, capsys):
    """With --jobs the runs train in pool workers and the parent gets the KeyboardInterrupt."""
    def interrupted_pool(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, like train_many

    monkeypatch.setattr(ddx7.cli.train, "train_many", interrupted_pool)
    assert main(["train", "--all", "--profile", "smoke", "--out", str(tmp_path), "--jobs", "2"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted; rerun to resume"


def test_a_jobs_worker_obeys_the_parents_stop(tmp_path, tiny_data, monkeypatch):
    """The --jobs parent, interrupted, sets a stop event: a worker's running run stops after its step with
    a checkpoint (even if the Ctrl-C did not reach that worker), a queued run does not start."""
    import threading

    stop = threading.Event()
    monkeypatch.setattr(ddx7.train, "_POOL_STOP", stop)
    real = Trainer.train_step

    def train_step(self):
        loss = real(self)
        if self.step + 1 == 2:
            stop.set()
        return loss

    monkeypatch.setattr(Trainer, "train_step", train_step)
    work = TrainJob(RUN, "smoke", "data", tmp_path, "cpu", threads=1, progress=False)
    summary = ddx7.train._train_job(work)
    assert summary["interrupted"] and summary["step"] == 2
    assert load_checkpoint(run_dir(RUN, "smoke", tmp_path) / "last.pt")["step"] == 2
    other = dataclasses.replace(work, name="flute-2osc-imax2")
    assert ddx7.train._train_job(other) == {"run": "flute-2osc-imax2", "step": None, "finished": False,
                                             "interrupted": True}
    assert not run_dir("flute-2osc-imax2", "smoke", tmp_path).exists()


# --- 6. one training per run directory ------------------------------------------------------------------
def test_a_run_being_trained_is_not_trained_twice(tmp_path, tiny_data, capsys):
    d = run_dir(RUN, "smoke", tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ddx7.checkpoints import run_lock\n"
                               f"with run_lock({str(d)!r}):\n    print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        (d / "last.pt").write_bytes(b"kept")  # --restart must not delete it under someone else's training
        message = f"run {RUN} is being trained by process {holder.pid} (lock {d / '.lock'}); wait for it or stop it"
        with pytest.raises(ValueError) as e:
            train_run(RUN, "smoke", out_root=tmp_path, restart=True)
        assert str(e.value) == message
        assert main(["train", RUN, "--profile", "smoke", "--out", str(tmp_path), "--restart"]) == 2
        assert capsys.readouterr().err.strip() == f"ddx7 train: error: {message}"
        assert (d / "last.pt").read_bytes() == b"kept"
    finally:
        holder.communicate("")  # releases the lock (as would its death)
    assert holder.returncode == 0
    assert train_run(RUN, "smoke", out_root=tmp_path, restart=True, progress=False)["finished"]


def test_the_run_lock_conflicts_within_one_process_too(tmp_path):
    with run_lock(tmp_path, "r"):
        with pytest.raises(ValueError, match=f"run r is being trained by process {os.getpid()}"):
            with run_lock(tmp_path, "r"):
                pass
    with run_lock(tmp_path, "r"):  # released
        pass


def test_a_run_trained_with_another_config_is_neither_skipped_nor_resumed(tmp_path, tiny_data, capsys, monkeypatch):
    """Changing a run's recipe (here its reverb) must not leave the old model in place as if it were the new
    one: ``ddx7 train`` refuses, naming the change and the way out; more steps are still a resume."""
    args = ["train", RUN, "--profile", "smoke", "--out", str(tmp_path)]
    assert main(args) == 0
    changed = run_config(RUN, "smoke")
    changed["model"]["reverb_seconds"] = 0.25
    monkeypatch.setattr(ddx7.cli.train, "run_config", lambda name, profile: changed)
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model.reverb_seconds: None → 0.25" in err and "--restart" in err and "skipped" not in err
    trainer = Trainer(changed, tone_dataset(), run_dir(RUN, "smoke", tmp_path), progress=False)
    with pytest.raises(ValueError, match="another config.*reverb_seconds"):
        trainer.resume()
    longer = run_config(RUN, "smoke")
    longer["train"]["steps"] += 2
    assert Trainer(longer, tone_dataset(), run_dir(RUN, "smoke", tmp_path), progress=False).resume()
    fake_built_dataset(tmp_path / "data")  # nor is it evaluated as if it were today's run
    monkeypatch.setattr(ddx7.eval.evaluate, "run_config", lambda name, profile: changed)
    assert main(["eval", RUN, "--profile", "smoke", "--data-root", str(tmp_path / "data"), "--checkpoints",
                 str(tmp_path), "--results", str(tmp_path / "results"), "--embeddings", "mfcc"]) == 2
    err = capsys.readouterr().err
    assert "another config than today's (model.reverb_seconds: None → 0.25)" in err and "--restart" in err
    assert not (tmp_path / "results" / "smoke" / RUN).exists()
