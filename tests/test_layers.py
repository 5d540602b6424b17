"""models.layers: drop-in Linear and GRU equal nn.Linear and nn.GRU (values and gradients)."""

from unittest import mock

import pytest
import torch
from torch import nn

from ddx7.models import layers
from ddx7.models.layers import GRU, Linear, linear_weight_grad


def rel(a, b):
    return float((a - b).detach().abs().max() / b.detach().abs().max())


@pytest.mark.parametrize("mkl_fast", [False, True])
@pytest.mark.parametrize("batch, frames, many_rows", [(1, 5, False), (4, 300, True), (17, 17, True)])
def test_linear_equals_nn_linear(batch, frames, many_rows, mkl_fast):
    """Both paths: F.linear (few rows, or MKL at its full rate) and oneDNN (16 images of rows·/16, or
    B images of T)."""
    torch.manual_seed(0)
    ref = nn.Linear(37, 29)
    ours = Linear(37, 29)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(batch, frames, 37, requires_grad=True)
    grad = torch.randn(batch, frames, 29)
    with mock.patch.object(layers, "mkl_sgemm_is_fast", lambda: mkl_fast):
        assert (layers.as_image(x) is not None) == (many_rows and not mkl_fast)
        y = ours(x)
        g = torch.autograd.grad(y, [x, *ours.parameters()], grad)
    y_ref = ref(x)
    assert y.shape == y_ref.shape and rel(y, y_ref) < 1e-5
    g_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], grad)
    for a, b in zip(g, g_ref):
        assert rel(a, b) < 1e-5


@pytest.mark.parametrize("mkl_fast", [False, True])
def test_linear_weight_grad_is_the_sum_of_outer_products(mkl_fast):
    torch.manual_seed(0)
    for batch, frames in ((2, 3), (4, 200), (17, 17)):
        g, x = torch.randn(batch, frames, 7), torch.randn(batch, frames, 5)
        want = torch.einsum("bto,bti->oi", g.double(), x.double()).float()
        with mock.patch.object(layers, "mkl_sgemm_is_fast", lambda: mkl_fast):
            assert rel(linear_weight_grad(g, x), want) < 1e-5


@pytest.mark.parametrize("product", ["onednn", "mkl-copy", "mkl-view"])
@pytest.mark.parametrize("batch, frames, with_state", [(2, 7, False), (4, 100, True)])
def test_gru_equals_nn_gru(batch, frames, with_state, product):
    """Outputs, last state and every gradient (inputs, initial state, the four parameters), with each of
    FixedProduct's three products: oneDNN, addmm on a contiguous copy of Wᵀ, addmm on a view of Wᵀ."""
    torch.manual_seed(1)
    ref = nn.GRU(24, 16, batch_first=True)
    ours = GRU(24, 16)
    ours.load_state_dict(ref.state_dict())
    assert set(ours.state_dict()) == set(ref.state_dict())
    x = torch.randn(batch, frames, 24, requires_grad=True)
    state = torch.randn(1, batch, 16, requires_grad=True) if with_state else None
    g_out, g_last = torch.randn(batch, frames, 16), torch.randn(1, batch, 16)
    min_uses = 10 ** 9 if product == "mkl-view" else 1  # the view for any length, or never

    with mock.patch.object(layers.FixedProduct, "MIN_USES", min_uses), \
            mock.patch.object(layers, "mkl_sgemm_is_fast", lambda: product != "onednn"):
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


@pytest.mark.parametrize("vendor, onednn", [("GenuineIntel", False), ("AuthenticAMD", True), ("", True)])
def test_fixed_product_takes_onednn_only_where_mkl_is_slow(vendor, onednn):
    """MKL's AVX-512 sgemm on Intel; oneDNN on other vendors (where oneDNN is built in); addmm's result
    either way, and Wᵀ copied contiguous (the fast MKL case) when MKL is chosen."""
    layers.mkl_sgemm_is_fast.cache_clear()
    try:
        with mock.patch.object(layers, "cpu_vendor", lambda: vendor):
            w, b, x = torch.randn(12, 8), torch.randn(12), torch.randn(3, 8)
            product = layers.FixedProduct(w, b, uses=64)
            assert product.onednn == (onednn and torch.backends.mkldnn.is_available())
            if not product.onednn:
                assert product.weight_t.is_contiguous() and torch.equal(product.weight_t, w.t())
            assert rel(product(x, out=torch.empty(3, 12)), torch.addmm(b, x, w.t())) < 1e-6
    finally:
        layers.mkl_sgemm_is_fast.cache_clear()
