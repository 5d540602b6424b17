"""The streamer's re-expressed parts (ddx7/stream.py, ddx7/models/reverb.py, ddx7/models/tcn.py) against the
offline functions they replace for speed: each as exact as its arithmetic allows, in float64 where it is made."""

import pytest
import torch

from ddx7.models.reverb import inverse_real_dft, real_dft
from ddx7.models.tcn import InputScaling
from ddx7.stream import decimation_matrix
from ddx7.synth.fm import mix_carriers
from ddx7.synth.oversample import decimate, decimation_filter


@pytest.mark.parametrize("n", [128, 16, 6])
def test_dft_matrices_are_rfft_and_irfft(n):
    torch.manual_seed(0)
    x = torch.randn(3, n, dtype=torch.float64)
    spectrum = torch.fft.rfft(x)
    assert torch.allclose(x @ real_dft(n), torch.view_as_real(spectrum).reshape(3, n + 2), atol=1e-12)
    spectrum[:, 0] += 1j  # irfft ignores the imaginary parts of DC and Nyquist: so must the matrix
    spectrum[:, -1] -= 2j
    back = torch.view_as_real(spectrum).reshape(3, n + 2) @ inverse_real_dft(n)
    assert torch.allclose(back, torch.fft.irfft(spectrum, n=n), atol=1e-12)


@pytest.mark.parametrize("factor,hop", [(2, 64), (3, 64), (2, 5)])
def test_decimation_matrix_is_one_frame_of_decimate(factor, hop):
    torch.manual_seed(0)
    kernel = decimation_filter(factor)
    history = kernel.shape[0] - factor
    fast = torch.randn(2, history + factor * hop * 4, dtype=torch.float64)
    expected = decimate(fast[:, history:], factor, kernel, fast[:, :history])
    windows = fast.unfold(1, history + factor * hop, factor * hop)  # [B, 4, L − M + M·hop]
    got = (windows @ decimation_matrix(kernel, factor, hop).double()).reshape(2, -1)
    # the matrix is float32 (what the streamer multiplies with): 1e-7 of the taps' scale
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got[:, 1:], expected[:, :-1], atol=1e-3)  # and not off by a sample


def test_stacked_last_is_stacked_to_float32_rounding():
    scaling = InputScaling()
    f0 = torch.logspace(1, 3.5, 500).reshape(2, 250)  # 10 Hz … 3.2 kHz
    loudness = torch.linspace(-120, 0, 500).reshape(2, 250)
    expected = scaling.stacked(f0, loudness, 2)
    got = scaling.stacked_last(f0, loudness)
    assert got.shape == expected.shape == (2, 250, 2)
    assert (got - expected).abs().max() <= 4 * torch.finfo(torch.float32).eps


def test_mix_carriers_without_max_ol_leaves_the_division_to_the_caller():
    outs = [torch.full((1, 3), v) for v in (1.0, 2.0, 4.0)]
    assert torch.equal(mix_carriers(outs, [0, 2], None), torch.full((1, 3), 5.0))
    assert torch.equal(mix_carriers(outs, [0, 2], torch.tensor(2.0)), torch.full((1, 3), 2.5))
