"""models.layers: drop-in Linear and GRU equal nn.Linear and nn.GRU (values and gradients)."""

from unittest import mock

import pytest
import torch
from torch import nn

from ddx7.models import layers
from ddx7.models.layers import GRU, Linear, linear_weight_grad


def rel(a, b):
    return float((a - b).detach().abs().max() / b.detach().abs().max())


@pytest.mark.parametrize("batch, frames, convolution", [(1, 5, False), (4, 300, True), (17, 17, True)])
def test_linear_equals_nn_linear(batch, frames, convolution):
    """Both paths: F.linear (few rows) and oneDNN (16 images of rows·/16, or B images of T)."""
    torch.manual_seed(0)
    ref = nn.Linear(37, 29)
    ours = Linear(37, 29)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(batch, frames, 37, requires_grad=True)
    assert (layers.as_image(x) is not None) == convolution
    grad = torch.randn(batch, frames, 29)
    y_ref, y = ref(x), ours(x)
    assert y.shape == y_ref.shape and rel(y, y_ref) < 1e-5
    g_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], grad)
    g = torch.autograd.grad(y, [x, *ours.parameters()], grad)
    for a, b in zip(g, g_ref):
        assert rel(a, b) < 1e-5


def test_linear_weight_grad_is_the_sum_of_outer_products():
    torch.manual_seed(0)
    for batch, frames in ((2, 3), (4, 200), (17, 17)):
        g, x = torch.randn(batch, frames, 7), torch.randn(batch, frames, 5)
        want = torch.einsum("bto,bti->oi", g.double(), x.double()).float()
        assert rel(linear_weight_grad(g, x), want) < 1e-5


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("batch, frames, with_state", [(2, 7, False), (4, 100, True)])
def test_gru_equals_nn_gru(batch, frames, with_state, onednn):
    """Outputs, last state and every gradient (inputs, initial state, the four parameters)."""
    torch.manual_seed(1)
    ref = nn.GRU(24, 16, batch_first=True)
    ours = GRU(24, 16)
    ours.load_state_dict(ref.state_dict())
    assert set(ours.state_dict()) == set(ref.state_dict())
    x = torch.randn(batch, frames, 24, requires_grad=True)
    state = torch.randn(1, batch, 16, requires_grad=True) if with_state else None
    g_out, g_last = torch.randn(batch, frames, 16), torch.randn(1, batch, 16)
    min_uses = 1 if onednn else 10 ** 9  # oneDNN products for any length, or never

    with mock.patch.object(layers.FixedProduct, "ONEDNN_MIN_USES", min_uses):
        y, last = ours(x, state)
        inputs = [x, *ours.parameters()] + ([state] if with_state else [])
        grads = torch.autograd.grad([y, last], inputs, [g_out, g_last])
        with torch.no_grad():
            y_no_grad, _ = ours(x, state)
    y_ref, last_ref = ref(x, state)
    ref_inputs = [x, *ref.parameters()] + ([state] if with_state else [])
    grads_ref = torch.autograd.grad([y_ref, last_ref], ref_inputs, [g_out, g_last])
    assert rel(y, y_ref) < 1e-5 and rel(last, last_ref) < 1e-5 and torch.equal(y_no_grad, y.detach())
    for a, b in zip(grads, grads_ref):
        assert a.shape == b.shape and rel(a, b) < 1e-4


def test_gru_rejects_a_wrong_input_size():
    with pytest.raises(ValueError, match=r"GRU expects \[batch, frames, 24\]"):
        GRU(24, 16)(torch.zeros(1, 5, 23))
