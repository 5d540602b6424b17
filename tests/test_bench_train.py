"""``ddx7 bench train`` at a tiny size: the table's shape and the two steps' losses (no timing asserted)."""

import math

import pandas as pd
import pytest
import torch

from ddx7.atomic import write_json
from ddx7.eval.bench_train import (
    PARTS,
    bench_record,
    decoder_flops,
    format_train_bench,
    load_bench_record,
    our_step,
    run_train_bench,
)
from ddx7.models import DDX7, HpN


@pytest.mark.parametrize("model", ["ddx7", "hpn"])
def test_bench_train_table(model, tmp_path):
    bench = run_train_bench(model, batch=1, seconds=0.25, repeats=1, matmul_size=256)
    assert list(bench.steps.columns) == ["part", "ours_ms", "straightforward_ms", "speedup"]
    assert list(bench.steps["part"]) == [*PARTS, "step"]
    assert (bench.steps.drop(index=2)[["ours_ms", "straightforward_ms"]] > 0).all().all()
    assert bench.steps.loc[2, "ours_ms"] > 0 and math.isnan(bench.steps.loc[2, "straightforward_ms"])  # no reverb
    assert list(bench.rates.columns) == ["ours", "straightforward"] and (bench.rates > 0).all().all()
    assert set(bench.losses) == {"ours", "straightforward"}
    assert all(math.isfinite(v) and v > 0 for v in bench.losses.values())
    assert torch.get_num_threads() >= 1 and "thread(s)" in format_train_bench(bench)
    # the --out record reads back as the same tables, with its provenance
    write_json(tmp_path / "b.json", bench_record(bench))
    back = load_bench_record(tmp_path / "b.json")
    pd.testing.assert_frame_equal(back.steps, bench.steps)
    pd.testing.assert_frame_equal(back.rates, bench.rates)
    assert back.losses == bench.losses and back.info["provenance"]["cpu"] == bench.info["cpu"]


def test_bench_train_bf16_times_ours_in_bf16_and_says_so(tmp_path):
    """--bf16: ours under autocast (its losses near float32's), the straightforward step float32 as always,
    the bf16 product's rate beside ours only, and the record says so."""
    bench = run_train_bench("ddx7", batch=1, seconds=0.25, repeats=1, matmul_size=256, bf16=True)
    assert "bf16" in bench.info["ours"] and "ours = decoder under bf16" in format_train_bench(bench)
    key = "bf16 matmul 256² GFLOP/s"
    assert bench.rates.loc[key, "ours"] > 0 and math.isnan(bench.rates.loc[key, "straightforward"])
    write_json(tmp_path / "b.json", bench_record(bench))
    back = load_bench_record(tmp_path / "b.json")
    pd.testing.assert_frame_equal(back.rates, bench.rates)
    assert back.info["ours"] == bench.info["ours"]


@pytest.mark.parametrize("model", [DDX7("violin-6osc", 2.0), HpN()], ids=["ddx7", "hpn"])
def test_our_step_parts_are_the_models_forward(model):
    """The timed parts compose to the model's forward (same dropout masks and noise under one seed)."""
    step = our_step(model.config)
    step.model.load_state_dict(model.state_dict())
    f0, loudness = torch.full((1, 40), 220.0), torch.full((1, 40), -30.0)
    torch.manual_seed(0)
    expected = step.model(f0, loudness)
    torch.manual_seed(0)
    audio = step.reverb(step.synth(f0, step.decoder(f0, loudness)))
    torch.testing.assert_close(audio, expected)


def test_decoder_flops_counts_the_tcn_convs():
    model = DDX7("violin-6osc", 2.0)
    per_frame = sum(2 * m.in_channels * m.out_channels * m.kernel_size[0]
                    for m in model.decoder.modules() if isinstance(m, torch.nn.Conv1d))
    assert decoder_flops(model.decoder, 10, 3) == 30 * per_frame


def test_the_straightforward_step_oversamples_like_the_config():
    """An oversampled run's bench compares with a straightforward step that oversamples too: a 9 kHz carrier
    (above Nyquist at 16 kHz) folds without it and vanishes with it."""
    from ddx7.eval.reference_step import NaiveDDX7

    f0, env = torch.full((1, 100), 1000.0), torch.zeros(1, 100, 2)
    for factor, power in ((1, 0.5), (2, 0.0)):
        naive = NaiveDDX7("2osc", 2.0, oversample=factor)
        naive.patch = naive.patch.with_ratios([9.0, 1.0])
        env[..., 0] = naive.max_ol
        audio = naive.synthesize(f0, env)[0, 1000:]
        assert audio.shape[0] == 100 * 64 - 1000 and float(audio.pow(2).mean()) == pytest.approx(power, abs=1e-4)
