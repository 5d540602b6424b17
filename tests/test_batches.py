"""Training batches (ddx7/data/batches.py): the loudness-noise option and what it leaves alone."""

import pytest
import torch
from test_train import tone_split

from ddx7.data.batches import loudness_noise, sample_batch
from ddx7.runs import run_config
from ddx7.train import Dataset, Trainer


def test_loudness_noise_has_the_asked_spread_and_keeps_the_floor():
    ld = torch.full((4, 50_000), -40.0)
    noisy = loudness_noise(ld, 2.0, torch.Generator().manual_seed(0))
    assert noisy.std().item() == pytest.approx(2.0, rel=0.01) and noisy.mean().item() == pytest.approx(-40, abs=0.02)
    floor = loudness_noise(torch.full((1, 1000), -80.0), 2.0, torch.Generator().manual_seed(0))
    assert floor.min().item() == -80.0 and (floor > -80).any()  # silence stays at the floor, never below


def test_without_loudness_noise_the_generator_is_not_drawn():
    gen = torch.Generator().manual_seed(3)
    ld = torch.zeros(2, 10)
    for off in (None, 0, 0.0):
        assert loudness_noise(ld, off, gen) is ld
    assert torch.equal(torch.randn(5, generator=gen), torch.randn(5, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="loudness_noise_db must be ≥ 0"):
        loudness_noise(ld, -1.0, gen)


def _trainer(tmp_path, **train):
    cfg = run_config("violin-2osc-imax2", "smoke")
    cfg["train"].update(steps=2, batch_size=2, excerpt_frames=40, **train)
    return Trainer(cfg, Dataset(tone_split(), tone_split(seed=1), "m"), tmp_path, progress=False)


def test_the_trainer_feeds_noisy_loudness_to_the_model_and_clean_audio_to_the_loss(tmp_path):
    seen = {}
    for name, noise in (("clean", None), ("noisy", 3.0)):
        t = _trainer(tmp_path / name, **({"loudness_noise_db": noise} if noise else {}))
        forward, loss = t.net.forward, t.loss_fn.forward
        t.net.forward = lambda f0, ld, _f=forward, _n=name: (seen.update({_n: (f0, ld)}), _f(f0, ld))[1]
        t.loss_fn.forward = lambda p, a, _f=loss, _n=name: (seen.update({_n + " audio": a}), _f(p, a))[1]
        t.train_step()
    expected = sample_batch(tone_split(), 2, 40, torch.Generator().manual_seed(run_config("violin-2osc-imax2",
                                                                                             "smoke")["seed"]))
    assert torch.equal(seen["clean"][0], expected[0]) and torch.equal(seen["clean"][1], expected[1])
    assert torch.equal(seen["noisy"][0], expected[0]) and torch.equal(seen["noisy audio"], expected[2])
    assert 2.0 < (seen["noisy"][1] - expected[1]).std().item() < 4.0  # 3 dB of noise, on the loudness only
