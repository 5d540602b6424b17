import csv
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddx7 import HOP
from ddx7.atomic import torch_save
from ddx7.checkpoints import load_checkpoint, load_model
from ddx7.models import build_model
from ddx7.runs import list_runs, run_config
from ddx7.synth import FMSynth
from ddx7.train import Dataset, Split, Trainer, sample_batch

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("train_worker.py")


def tone_split(n=6, frames=80, seed=0) -> Split:
    """FM tones with gliding pitch and swelling loudness: known controls, known audio."""
    g = torch.Generator().manual_seed(seed)
    f0 = (150 + 300 * torch.rand(n, 1, generator=g)) * torch.linspace(1, 1.2, frames)
    level = torch.linspace(0.2, 1, frames).expand(n, -1)
    synth = FMSynth("2osc", 2.0)
    env = torch.stack([level, 0.5 * level], -1) * synth.max_ol
    with torch.no_grad():
        audio = 0.5 * synth.get_signal(f0, env)
    loudness = 20 * torch.log10(level * 0.5) - 10
    return Split(audio, f0, loudness)


@pytest.fixture
def dataset_file(tmp_path):
    train, valid = tone_split(6, seed=0), tone_split(3, seed=1)
    path = tmp_path / "data.pt"
    torch.save({"train": vars(train), "valid": vars(valid)}, path)
    return path


def run_worker(data, out, steps, kill_at=None, nproc=1, sigint_at=None, kill_at_write=None):
    """train_worker.py in a subprocess; the fault injections are described in its docstring."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var, value in (("DDX7_TEST_KILL_AT_STEP", kill_at), ("DDX7_TEST_SIGINT_AT_STEP", sigint_at),
                       ("DDX7_TEST_KILL_AT_WRITE", kill_at_write)):
        env.pop(var, None)
        if value:
            env[var] = str(value)
    cmd = [sys.executable, str(WORKER), str(data), str(out), str(steps)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *cmd[1:]]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def worker_summary(proc) -> dict:
    """The run summary a train_worker.py printed (its last line, JSON)."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_grid_has_the_nineteen_runs_of_tables_1_to_4():
    runs = list_runs()
    assert len(runs) == 19
    six = [r for r in runs if "-6osc-" in r]
    assert len(six) == 9
    assert sum(r.startswith("hpn-") for r in runs) == 3
    cfg = run_config("trumpet-2osc-imax2pi", "paper")
    assert cfg["model"]["imax"] == pytest.approx(2 * math.pi)
    assert cfg["train"] == {**cfg["train"], "steps": 120000, "batch_size": 16, "excerpt_frames": 1000, "lr": 3e-4,
                            "grad_clip": 2.0}
    hpn = run_config("hpn-violin", "paper")
    assert hpn["train"]["lr"] == 1e-4 and hpn["train"]["grad_clip"] == 3.0 and "patch" not in hpn["model"]
    with pytest.raises(ValueError, match="unknown run"):
        run_config("violin-9osc", "quick")
    with pytest.raises(ValueError, match="unknown profile"):
        run_config("hpn-violin", "huge")


def test_sample_batch_keeps_audio_aligned_with_controls():
    split = tone_split(4, frames=50)
    f0, ld, audio = sample_batch(split, 8, 20, torch.Generator().manual_seed(0))
    assert f0.shape == ld.shape == (8, 20) and audio.shape == (8, 20 * HOP)
    for b in range(8):  # find the excerpt and offset the batch item came from
        hits = [(i, s) for i in range(4) for s in range(31) if torch.equal(split.f0_hz[i, s:s + 20], f0[b])]
        assert hits
        i, s = hits[0]
        assert torch.equal(split.audio[i, s * HOP:(s + 20) * HOP], audio[b])


def test_training_lowers_the_validation_loss_and_writes_checkpoints(tmp_path):
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["model"]["dropout"] = 0.0
    # 160 steps: at 40 the ratio sat at 0.79-0.86 depending on float rounding alone (a different but
    # equal-to-1e-7 loss gradient tipped it), at 80 at 0.64-0.82 (the channels-last TCN, equal to 1e-6, gave
    # 0.82 with one thread), at 160 at 0.40-0.64
    cfg["train"].update(steps=160, batch_size=4, excerpt_frames=60, valid_every=80, checkpoint_every=80,
                        log_every=5, lr=3e-3)
    data = Dataset(tone_split(6), tone_split(3, seed=1), "m")
    trainer = Trainer(cfg, data, tmp_path, device="cpu", progress=False)
    before = trainer.validate()
    summary = trainer.run()
    assert summary["finished"] and summary["best_valid"] < 0.8 * before
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["step"] for r in rows if r["split"] == "valid"] == ["80", "160"]
    model, ckpt = load_model(tmp_path / "best.pt")
    assert ckpt["manifest_hash"] == "m" and ckpt["run_config"]["name"] == "violin-2osc-imax2"


def test_killed_run_resumes_to_the_same_weights(dataset_file, tmp_path):
    straight = run_worker(dataset_file, tmp_path / "a", 6)
    assert straight.returncode == 0, straight.stderr
    killed = run_worker(dataset_file, tmp_path / "b", 6, kill_at=3)
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 2  # the last checkpoint before the kill
    resumed = run_worker(dataset_file, tmp_path / "b", 6)
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "a" / "weights_rank0.pt")
    b = torch.load(tmp_path / "b" / "weights_rank0.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a = (tmp_path / "a" / "log.csv").read_text()
    log_b = (tmp_path / "b" / "log.csv").read_text()
    steps = lambda log: [line.split(",")[:2] for line in log.splitlines()]  # noqa: E731 (same rows, no duplicates)
    assert steps(log_a) == steps(log_b)


def test_ddp_replicas_stay_identical(dataset_file, tmp_path):
    proc = run_worker(dataset_file, tmp_path / "ddp", 3, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0 = torch.load(tmp_path / "ddp" / "weights_rank0.pt")
    w1 = torch.load(tmp_path / "ddp" / "weights_rank1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    ckpt = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]["ranks"]) == 2
    torch.manual_seed(ckpt["run_config"]["seed"])  # the weights did move away from the initialisation
    fresh = build_model(ckpt["config"]).state_dict()
    assert any(not torch.equal(fresh[k], w0[k]) for k in w0)


def test_corrupt_and_foreign_checkpoints_are_reported(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(bad)
    torch_save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a ddx7 checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_resume_refuses_a_checkpoint_of_another_dataset(tmp_path):
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=2, excerpt_frames=40, checkpoint_every=1, valid_every=2)
    Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "one"), tmp_path, progress=False).run()
    other = Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "two"), tmp_path, progress=False)
    with pytest.raises(ValueError, match="dataset"):
        other.resume()


def test_lr_schedules_follow_their_formulas():
    from ddx7.train import lr_schedule

    def lrs(**tc):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
        sched = lr_schedule(opt, {"lr": 1e-3, "lr_decay": 0.5, "lr_decay_steps": 10, "steps": 110, **tc})
        out = []
        for _ in range(111):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        return out

    exp = lrs()
    assert exp[0] == 1e-3 and math.isclose(exp[10], 0.5e-3) and math.isclose(exp[20], 0.25e-3)
    cos = lrs(lr_schedule="cosine", warmup_steps=10, lr_min=1e-5)
    assert math.isclose(cos[0], 1e-4) and math.isclose(cos[9], 1e-3)  # linear warm-up over 10 steps
    assert math.isclose(cos[60], 1e-5 + (1e-3 - 1e-5) * 0.5)  # half way through the cosine
    assert math.isclose(cos[110], 1e-5)
    with pytest.raises(ValueError, match="lr_schedule must be exponential or cosine"):
        lrs(lr_schedule="step")


def test_quiet_initialisation_starts_as_a_quiet_nearly_pure_tone():
    """model.init: carriers at sigmoid(−2), modulators at sigmoid(−4), nearly whatever the input."""
    quiet = build_model({"model": "ddx7", "patch": "violin-6osc", "init": {"carrier": -2.0, "modulator": -4.0,
                                                                            "gain": 0.1}})
    f0 = 100 + 800 * torch.rand(2, 300)
    ld = -70 + 60 * torch.rand(2, 300)
    with torch.no_grad():
        env = quiet.get_controls(f0, ld)["envelopes"] / quiet.synth.max_ol
    carriers = quiet.patch.carriers
    modulators = [k for k in range(quiet.patch.n_ops) if k not in carriers]
    assert (env[..., carriers] - torch.sigmoid(torch.tensor(-2.0))).abs().max() < 0.05
    assert (env[..., modulators] - torch.sigmoid(torch.tensor(-4.0))).abs().max() < 0.01
    assert quiet.config["init"]["gain"] == 0.1 and build_model(quiet.config).config == quiet.config
    with pytest.raises(ValueError, match="model.init takes carrier, modulator and gain"):
        build_model({"model": "ddx7", "init": {"carier": -2.0}})


def test_snapshots_hold_the_weights_of_their_step_and_survive_a_resume(tmp_path):
    """train.snapshot_steps: step-NNNNNN.pt holds the weights the run had at that step (the same as a run
    stopped there), also when the run was interrupted and resumed in between."""
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=5, batch_size=2, excerpt_frames=40, checkpoint_every=4, valid_every=4,
                        snapshot_steps=[3])
    data = Dataset(tone_split(), tone_split(seed=1), "m")
    Trainer(cfg, data, tmp_path / "a", progress=False).run()
    stopped = Trainer({**cfg, "train": {**cfg["train"], "steps": 3}}, data, tmp_path / "b", progress=False)
    stopped.run()
    resumed = Trainer(cfg, data, tmp_path / "c", progress=False)
    resumed.run(max_steps=2)
    resumed = Trainer(cfg, data, tmp_path / "c", progress=False)
    assert resumed.resume() and resumed.step == 2
    resumed.run()
    for run in ("a", "c"):
        assert [p.name for p in sorted((tmp_path / run).glob("step-*.pt"))] == ["step-000003.pt"]
        snap = load_checkpoint(tmp_path / run / "step-000003.pt")
        assert snap["step"] == 3 and snap["wall_s"] >= 0
        assert all(torch.equal(snap["model"][k], stopped.model.state_dict()[k]) for k in snap["model"])
    assert "optimizer" not in snap  # a snapshot is weights, not a training state


def test_a_run_extended_past_its_end_snapshots_that_end_and_goes_on_as_one_long_run(tmp_path):
    """Raising train.steps of a finished run resumes it; a snapshot step at the old end is written from the
    checkpoint it resumes (the weights the run had there), and the extended run ends as an uninterrupted one."""
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=3, batch_size=2, excerpt_frames=40, checkpoint_every=4, valid_every=4,
                        snapshot_steps=[])
    data = Dataset(tone_split(), tone_split(seed=1), "m")
    short = Trainer(cfg, data, tmp_path / "a", progress=False)
    short.run()
    longer = {**cfg, "train": {**cfg["train"], "steps": 5, "snapshot_steps": [3]}}
    extended = Trainer(longer, data, tmp_path / "a", progress=False)
    assert extended.resume() and extended.step == 3
    snap = load_checkpoint(tmp_path / "a" / "step-000003.pt")
    assert snap["step"] == 3 and all(torch.equal(snap["model"][k], short.model.state_dict()[k]) for k in snap["model"])
    extended.run()
    whole = Trainer(longer, data, tmp_path / "b", progress=False)
    whole.run()
    assert all(torch.equal(v, whole.model.state_dict()[k]) for k, v in extended.model.state_dict().items())


def test_a_null_in_a_config_removes_the_key_its_base_set():
    from ddx7.runs import deep_merge

    merged = deep_merge({"train": {"steps": 9, "snapshot_steps": [3]}, "loss": {"eps": 1e-5}},
                       {"train": {"snapshot_steps": None, "steps": 2}, "loss": {"eps": None}, "gone": None})
    assert merged == {"train": {"steps": 2}, "loss": {}}


def test_a_list_of_bases_merges_in_order_then_the_file_itself(tmp_path):
    """What the recipe experiments use to pin a recipe (configs/recipe4.yaml): the run, then the pin, then the
    experiment's own lines; the pin's null removes a key the run's profile set."""
    from ddx7.runs import _load_chain

    (tmp_path / "run.yaml").write_text("model: {hidden: 8}\n"
                                       "profiles: {full: {train: {lr: 3.0e-3, warmup_steps: 1500}}}\n")
    (tmp_path / "pin.yaml").write_text("profiles: {full: {train: {lr: 1.0e-3, warmup_steps: null}}}\n")
    (tmp_path / "plain.yaml").write_text("base: [run.yaml, pin.yaml]\nmodel: {dropout: 0.1}\n")
    (tmp_path / "own.yaml").write_text("base: [run.yaml, pin.yaml]\nprofiles: {full: {train: {lr: 2.0e-3}}}\n")
    assert _load_chain(tmp_path / "plain.yaml") == {"model": {"hidden": 8, "dropout": 0.1},
                                                    "profiles": {"full": {"train": {"lr": 1.0e-3}}}}
    assert _load_chain(tmp_path / "own.yaml")["profiles"] == {"full": {"train": {"lr": 2.0e-3}}}
    (tmp_path / "loop.yaml").write_text("base: [run.yaml, loop.yaml]\n")
    with pytest.raises(ValueError, match="loops back"):
        _load_chain(tmp_path / "loop.yaml")
