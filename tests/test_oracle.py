"""The free-envelope fit (ddx7.eval.oracle): control points, a target the synth can make, the model left as it was."""

import pytest
import torch

from ddx7.eval.oracle import frame_logits, free_envelope_fit, pooled_logits
from ddx7.models import DDX7


def test_control_points_of_constant_logits_interpolate_back_exactly():
    z = torch.full((2, 250, 3), 0.7)
    points = pooled_logits(z, 5)
    assert points.shape == (2, 3, 50)
    assert torch.allclose(frame_logits(points, 250), z)


def test_the_fit_finds_envelopes_the_synth_can_make_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = DDX7(patch="2osc", imax="2pi", hidden=8, dilations=(1, 2), dropout=0.0, reverb=False).eval()
    f0 = torch.full((1, 250), 220.0)
    loudness = torch.linspace(-60, -30, 250)[None]
    with torch.no_grad():
        z_target = model.decoder(f0, loudness) + torch.tensor([1.5, 0.0])  # the carrier louder, the same brightness
        target = model.synth(f0, z_target)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit = free_envelope_fit(model, f0, loudness, target, steps=400, pool=5, lr=0.05, report_every=200)
    assert fit["free_mss"] < 0.6 * fit["decoder_mss"], fit  # 8.7 → 3.9 here; exact envelopes give 0
    assert [s for s, _ in fit["curve"]] == [0, 200, 400]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())


def test_bad_settings_are_refused():
    model = DDX7(patch="2osc", hidden=8, dilations=(1,), reverb=False)
    f0, loudness = torch.full((1, 10), 220.0), torch.full((1, 10), -40.0)
    with pytest.raises(ValueError, match="pool ≥ 1"):
        free_envelope_fit(model, f0, loudness, torch.zeros(1, 640), pool=0)


def fake_phrases(monkeypatch, seconds_each):
    """unseen_excerpts on synthetic phrases: sample n of phrase p is p + n / 1e6, f0 = frame + 1, loudness = −frame."""
    import numpy as np

    from ddx7 import HOP
    from ddx7.eval import oracle

    phrases = [(f"p{p}", (p + np.arange(int(s * 16000)) / 1e6).astype(np.float32)) for p, s in enumerate(seconds_each)]
    monkeypatch.setattr(oracle, "manifest_or_card", lambda *a, **k: {})
    monkeypatch.setattr(oracle, "unseen_phrases", lambda *a, **k: phrases)
    monkeypatch.setattr("ddx7.resynth.features", lambda audio: (np.arange(len(audio) // HOP, dtype=np.float32) + 1,
                                                                -np.arange(len(audio) // HOP, dtype=np.float32),
                                                                None))
    return oracle


def test_unseen_excerpts_are_whole_aligned_pieces_of_each_phrase(monkeypatch):
    oracle = fake_phrases(monkeypatch, [8.5, 4.0, 3.9])  # 2 pieces, 1 piece, none (too short)
    ex = oracle.unseen_excerpts("trumpet", "full", frames=1000)
    assert ex["audio"].shape == (3, 64000) and ex["f0_hz"].shape == ex["loudness_db"].shape == (3, 1000)
    # the second piece of phrase 0 starts at sample 64000 and frame 1000, the third piece is phrase 1 from 0
    assert ex["audio"][1, 0].item() == pytest.approx(0 + 64000 / 1e6)
    assert ex["f0_hz"][1, 0].item() == 1001 and ex["loudness_db"][1, 0].item() == -1000
    assert ex["audio"][2, 0].item() == pytest.approx(1.0) and ex["f0_hz"][2, 0].item() == 1


def test_unseen_excerpts_refuse_phrases_shorter_than_an_excerpt(monkeypatch):
    oracle = fake_phrases(monkeypatch, [3.0])
    with pytest.raises(ValueError, match="no unseen phrase of trumpet is 1000 frames long"):
        oracle.unseen_excerpts("trumpet", "full", frames=1000)


def test_eval_oracle_names_an_unknown_instrument():
    import argparse

    from ddx7.cli.evaluate import cmd_eval_oracle

    args = argparse.Namespace(profile="full", all_runs=True, instruments="trumpet,tuba", data_root="data",
                              results="results", excerpts=8, steps=1, pool=5, unseen=True, runs=None,
                              soundfont=None, name=None)
    with pytest.raises(ValueError, match="--instruments: unknown tuba; known: "):
        cmd_eval_oracle(args)
