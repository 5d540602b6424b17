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
