"""MultiScaleSpectralLoss pinned to the plain formula (autograd through torch.stft): loss and gradients."""

import pytest
import torch

from ddx7.losses import MultiScaleSpectralLoss


def reference_loss(prediction, target, fft_sizes, overlap=0.75, log_weight=1.0, eps=1e-7):
    """Σ_s mean| |X_s| − |Y_s| | + w·mean| log(|X_s| + ε) − log(|Y_s| + ε) |, written plainly."""
    loss = 0.0
    for n in fft_sizes:
        hop = max(1, int(n * (1 - overlap)))
        p, t = (torch.stft(x, n, hop, window=torch.hann_window(n).to(x.dtype), center=True,
                           return_complex=True).abs() for x in (prediction, target))
        loss = loss + (p - t).abs().mean() + log_weight * (torch.log(p + eps) - torch.log(t + eps)).abs().mean()
    return loss


def loss_and_grads(loss_fn, prediction, target):
    """Loss and the gradients w.r.t. both inputs."""
    prediction, target = prediction.clone().requires_grad_(True), target.clone().requires_grad_(True)
    loss = loss_fn(prediction, target)
    loss.backward()
    return loss.detach(), prediction.grad, target.grad


def assert_same_numbers(got, want):
    (loss, *grads), (ref_loss, *ref_grads) = got, want
    assert torch.isfinite(loss) and abs(loss - ref_loss) <= 1e-5 * abs(ref_loss)
    for grad, ref in zip(grads, ref_grads):
        assert torch.all(torch.isfinite(grad))
        assert (grad - ref).abs().max() <= 1e-4 * ref.abs().max()


@pytest.mark.parametrize("shape, fft_sizes, overlap, block", [
    ((3, 8000), (2048, 1024, 512, 256, 128, 64), 0.75, 1 << 17),
    ((5, 8000), (2048, 1024, 512, 256, 128, 64), 0.75, 1),  # one row per block
    ((5, 3000), (512, 64), 0.75, 2 * 24 * 257),  # blocks of 2 rows at 512 (24 frames), a last one of 1
    ((2, 4000), (512, 64), 0.75, 1 << 17),
    ((4001,), (256, 100), 0.7, 1 << 17),  # 1-D input; hops 76 and 30 do not divide the FFT size
])
def test_loss_and_gradients_match_the_plain_formula(shape, fft_sizes, overlap, block):
    torch.manual_seed(0)
    prediction, target = 0.3 * torch.randn(shape), 0.3 * torch.randn(shape)
    prediction[..., 1000:1600] = 0.0  # exact silence: |X| = 0 bins
    got = loss_and_grads(MultiScaleSpectralLoss(fft_sizes, overlap, block=block), prediction, target)
    assert_same_numbers(got, loss_and_grads(lambda p, t: reference_loss(p, t, fft_sizes, overlap), prediction, target))


def test_float64_and_no_grad_match_the_plain_formula():
    torch.manual_seed(1)
    prediction, target = torch.randn(2, 3000, dtype=torch.float64), torch.randn(2, 3000, dtype=torch.float64)
    loss_fn = MultiScaleSpectralLoss((512, 128)).double()  # windows made in float32, then cast (as the reference)
    assert_same_numbers(loss_and_grads(loss_fn, prediction, target),
                        loss_and_grads(lambda p, t: reference_loss(p, t, (512, 128)), prediction, target))
    with torch.no_grad():
        assert torch.allclose(loss_fn(prediction, target), reference_loss(prediction, target, (512, 128)), rtol=1e-10)


def test_loss_is_zero_for_equal_audio_and_grows_with_a_gain_mismatch():
    torch.manual_seed(2)
    target, loss_fn = 0.3 * torch.randn(2, 16000), MultiScaleSpectralLoss()
    assert loss_fn(target, target.clone()).item() == 0.0
    losses = [loss_fn(gain * target, target).item() for gain in (0.95, 0.8, 0.5)]
    assert 0 < losses[0] < losses[1] < losses[2]


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="differ"):
        MultiScaleSpectralLoss()(torch.zeros(2, 1000), torch.zeros(2, 999))
