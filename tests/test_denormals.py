import pytest
import torch
from test_train import tone_split

from ddx7 import report
from ddx7.atomic import write_json
from ddx7.bench_denormals import denormal_bench_record, format_denormal_bench, run_denormal_bench
from ddx7.denormals import DENORMAL, count_denormals, flush_denormals, flushing
from ddx7.losses import MultiScaleSpectralLoss
from ddx7.models import build_model
from ddx7.runs import model_kwargs, run_config
from ddx7.train import Dataset, Trainer

if not torch.set_flush_denormal(False):  # False where the CPU has no flush-to-zero mode
    pytest.skip("this CPU cannot flush denormals (torch.set_flush_denormal returned False)", allow_module_level=True)


def test_flush_denormals_flushes_within_the_block_and_restores_the_mode_it_found():
    assert not flushing() and (torch.tensor([DENORMAL]) * 1.0).item() != 0.0
    with flush_denormals():
        assert flushing() and (torch.tensor([DENORMAL]) * 1.0).item() == 0.0
        with flush_denormals(False):
            assert not flushing()
        assert flushing()
    assert not flushing()
    with pytest.raises(RuntimeError), flush_denormals():
        raise RuntimeError
    assert not flushing()


def test_count_denormals_counts_float32_denormals_also_while_flushing():
    values = torch.tensor([DENORMAL, -DENORMAL, 0.0, 1.0, torch.finfo(torch.float32).tiny])
    with flush_denormals():
        assert count_denormals([values, None, torch.ones(3, dtype=torch.float64)]) == (2, 5)


def test_flushing_leaves_loss_and_gradients_of_a_saturated_model_the_same():
    """Modulators pinned at sigmoid(−88), whose derivative 6e-39 is denormal (below −88.7 float32's
    sigmoid is exactly 0): the gradients hold denormals, and flushing them changes the loss by less than
    1e-5 and the gradients by less than 1e-4, relative."""
    torch.manual_seed(0)
    model = build_model({"model": "ddx7", "patch": "violin-6osc", "hidden": 16, "dropout": 0.0,
                         "init": {"carrier": -2.0, "modulator": -88.0, "gain": 0.1}})
    loss_fn = MultiScaleSpectralLoss([256, 64], 0.75)
    split = tone_split(2, frames=60)
    results = {}
    for flush in (False, True):
        with flush_denormals(flush):
            model.zero_grad()
            loss = loss_fn(model(split.f0_hz, split.loudness_db), split.audio)
            loss.backward()
            results[flush] = loss.item(), [p.grad.clone() for p in model.parameters()]
    assert count_denormals(results[False][1])[0] > 0
    assert count_denormals(results[True][1])[0] == 0
    assert results[True][0] == pytest.approx(results[False][0], rel=1e-5)
    for kept, flushed in zip(results[False][1], results[True][1]):
        assert torch.allclose(flushed, kept, rtol=1e-4, atol=1e-30)


def test_a_training_step_runs_with_denormals_flushed_and_leaves_the_mode_as_it_was(tmp_path, monkeypatch):
    seen = []
    step = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self: (seen.append(flushing()), step(self))[1])
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=2, batch_size=2, excerpt_frames=40)
    Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "m"), tmp_path, progress=False).run()
    assert seen == [True, True] and not flushing()


def test_bench_denormals_times_a_checkpoints_step_kept_and_flushed(tmp_path, monkeypatch):
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=2, batch_size=2, excerpt_frames=40)
    data = Dataset(tone_split(), tone_split(seed=1), "m")
    Trainer(cfg, data, tmp_path, progress=False).run()
    table, info = run_denormal_bench(tmp_path / "last.pt", "smoke", steps=1, repeats=1, dataset=data)
    assert list(table["denormals"]) == ["kept", "flushed"] and table["speed-up"].iloc[0] == 1.0
    assert info["step"] == 2 and info["batch"] == 2 and not flushing()
    assert set(info["denormals"]) == {"weights", "gradients", "Adam exp_avg", "Adam exp_avg_sq"}
    assert info["denormals"]["weights"][1] == sum(p.numel() for p in build_model(model_kwargs(cfg)).parameters())
    assert "Adam exp_avg" in format_denormal_bench(table, info)
    # the record, committed under results/full/bench_denormals/, comes back as the book's row
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "ddx7").mkdir()
    assert report.denormal_bench_table() is None
    write_json(tmp_path / "results/full/bench_denormals/r.json", denormal_bench_record(table, info))
    row = report.denormal_bench_table().iloc[0]
    kept, flushed = table["step (ms)"]
    assert row["step"] == 2 and row["kept ms"] == kept and row["speed-up"] == pytest.approx(kept / flushed)
    with pytest.raises(ValueError, match="no optimizer state: give a run's last.pt"):
        run_denormal_bench(tmp_path / "best.pt", "smoke", dataset=data)


def test_bench_denormals_names_a_missing_checkpoint(tmp_path, capsys):
    from ddx7.cli import main

    assert main(["bench", "denormals", str(tmp_path / "last.pt")]) == 2
    assert "last.pt: no such checkpoint" in capsys.readouterr().err


def test_bench_denormals_counts_the_checkpoints_own_adam_moments(tmp_path):
    """The counts are the checkpoint's, not those of the state after the warm-up step (which moved Adam's moments
    by one step: 0.9 m + 0.1 g turns a denormal moment with a live gradient into a normal number)."""
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=2, batch_size=2, excerpt_frames=40)
    data = Dataset(tone_split(), tone_split(seed=1), "m")
    Trainer(cfg, data, tmp_path, progress=False).run()
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    moments = [s["exp_avg"] for s in ckpt["optimizer"]["state"].values()]
    max(moments, key=torch.Tensor.numel).view(-1)[:3] = DENORMAL  # whose gradients are not 0 here
    torch.save(ckpt, tmp_path / "last.pt")
    _, info = run_denormal_bench(tmp_path / "last.pt", "smoke", steps=1, repeats=1, dataset=data)
    assert info["denormals"]["Adam exp_avg"] == count_denormals(moments)
    assert info["denormals"]["Adam exp_avg"][0] >= 3
