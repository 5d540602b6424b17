"""The bf16 option (``train.precision: bf16``, ``ddx7 bench train --bf16``): under ``torch.autocast`` the
decoders run in bf16 while the synths, reverbs and the recurrence stay float32, and gradients reach the
float32 parameters."""

import pytest
import torch
from test_train import tone_split

from ddx7.models import build_model
from ddx7.models.layers import GRU, causal_conv
from ddx7.runs import run_config
from ddx7.train import Dataset, Trainer


def autocast(enabled=True):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def rel(a, b):
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).norm() / b.norm())


def test_causal_conv_runs_in_bf16_and_its_gradients_reach_float32_weights():
    torch.manual_seed(0)
    x = torch.randn(3, 70, 8, requires_grad=True)
    w = torch.randn(16, 8, 3, requires_grad=True)
    b = torch.randn(16, requires_grad=True)
    keep = (torch.rand(3, 70, 16) > 0.5).to(torch.uint8)
    g = torch.randn(3, 70, 16)
    y = causal_conv(x, w, b, 2, True, keep, 2.0)
    grads = torch.autograd.grad(y, [x, w, b], g)
    with autocast():
        y_low = causal_conv(x, w, b, 2, True, keep, 2.0)
    grads_low = torch.autograd.grad(y_low, [x, w, b], g)
    assert y_low.dtype == torch.bfloat16 and rel(y_low, y) < 1e-2
    for low, full in zip(grads_low, grads):
        assert low.dtype == torch.float32 and rel(low, full) < 2e-2


def test_gru_keeps_its_recurrence_float32_under_autocast():
    torch.manual_seed(0)
    gru = GRU(24, 16)
    x = torch.randn(2, 50, 24)
    y, last = gru(x)
    with autocast():
        y_low, last_low = gru(x)
    assert y_low.dtype == torch.float32 and last_low.dtype == torch.float32
    assert 0 < rel(y_low, y) < 2e-2  # the input projection is bf16 (not equal), the recurrence is not


@pytest.mark.parametrize("config", [{"model": "ddx7", "patch": "violin-6osc", "imax": 2.0, "oversample": 2},
                                    {"model": "hpn", "hidden": 32}])
def test_synth_and_reverb_are_never_cast(config):
    """get_signal under autocast is bit-equal to get_signal without; get_controls gives float32 controls
    close to float32's."""
    torch.manual_seed(0)
    model = build_model(config).eval()
    f0 = torch.full((2, 40), 220.0)
    loudness = torch.linspace(-50, -10, 40).expand(2, -1).contiguous()
    noise = torch.rand(2, 40, model.hop) * 2 - 1
    extra = {"noise": noise} if config["model"] == "hpn" else {}
    with torch.no_grad():
        controls = model.get_controls(f0, loudness)
        audio = model.get_signal(controls, **extra)
        with autocast():
            controls_low = model.get_controls(f0, loudness)
            audio_same = model.get_signal(controls, **extra)
    assert torch.equal(audio_same, audio)
    for key, value in controls_low.items():
        assert value.dtype == torch.float32 and rel(value, controls[key]) < 5e-2, key


def test_trainer_takes_bf16_and_refuses_an_unknown_precision(tmp_path):
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=2, batch_size=2, excerpt_frames=60, precision="fp16")
    data = Dataset(tone_split(4), tone_split(2, seed=1), "m")
    with pytest.raises(ValueError, match="train.precision must be one of fp32, bf16, got 'fp16'"):
        Trainer(cfg, data, tmp_path / "a", device="cpu", progress=False)
    cfg["train"]["precision"] = "bf16"
    trainer = Trainer(cfg, data, tmp_path / "b", device="cpu", progress=False)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    loss = trainer.train_step()
    assert torch.isfinite(torch.tensor(loss))
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(trainer.model.parameters(), before))


@pytest.mark.parametrize("config", [{"model": "ddx7", "patch": "2osc", "imax": 2.0}, {"model": "hpn", "hidden": 32}])
def test_float64_models_keep_float64_controls(config):
    """The decoders' outputs are cast to f0's dtype, not to float32: a float64 model stays float64."""
    model = build_model(config).double().eval()
    f0, loudness = torch.full((1, 20), 220.0, dtype=torch.float64), torch.full((1, 20), -30.0, dtype=torch.float64)
    with torch.no_grad():
        controls = model.get_controls(f0, loudness)
    assert all(v.dtype == torch.float64 for v in controls.values())
