"""The decoders' layers at the CPU's fp32 rate: HpN's drop-in ``Linear`` and ``GRU`` (same parameters, same
state_dict keys and the same numbers as ``nn.Linear`` / ``nn.GRU`` up to float32 rounding), and the TCN's
``causal_conv`` (a dilated causal convolution on [B, T, C] frames with a fused ReLU + dropout epilogue).

Why: on AMD Zen 5 (EPYC family 26), MKL's sgemm, which ``nn.Linear`` and ``nn.GRU`` call, does not
use AVX-512 and runs at ~100 GFLOP/s on one core, while oneDNN's 1×1 convolution in channels-last
layout runs the same product at ~200–250 GFLOP/s. A [B, T, C] activation *is* a channels-last
[B, C, 1, T] image (a permuted view, no copy), so a linear layer over many frames is one oneDNN
convolution, forward and backward. On machines where sgemm is at the peak already (Intel AVX-512)
MKL is as fast forward and ~10 % faster backward (Intel Xeon, family 6, model 207), so there
:func:`mkl_sgemm_is_fast` keeps ``F.linear``. Small inputs (a streaming block) keep ``F.linear``: a convolution's setup
costs more than it saves there.

``GRU``: the input projection of all frames at once through :class:`Linear`; the recurrence per
frame (gate order r, z, n as ``nn.GRU``) in one autograd node whose hand-written backward forms the
recurrent weights' gradient with one product over all frames instead of one small product per frame.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..provenance import cpu_vendor

# Rows (batch × frames) from which a linear layer runs as a oneDNN convolution.
CONV_MIN_ROWS = 256


@functools.cache
def mkl_sgemm_is_fast() -> bool:
    """Whether MKL's sgemm runs at the core's AVX-512 rate: MKL takes those kernels on Intel CPUs only.
    On an Intel Xeon (family 6, model 207) ``addmm`` with a contiguous Wᵀ [512, 1536] runs a [16, 512]
    product ~1.9× faster than oneDNN's inner product; on AMD Zen 5 oneDNN is ~1.6× MKL."""
    return cpu_vendor() == "GenuineIntel"


def autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype that ``torch.autocast`` gives products on x's device (bf16 on the CPU), None where it is off."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None


def autocast_off(x: torch.Tensor):
    """A region where ``torch.autocast`` is off on x's device: what runs inside keeps its own dtype (the
    GRU's recurrence, the synths and reverbs; causal_conv's bf16 product, cast once before it)."""
    return torch.autocast(x.device.type, enabled=False)


def as_image(x: torch.Tensor) -> torch.Tensor | None:
    """x [B, T, C] as a channels-last image [N, C, 1, B·T / N] of the same memory (a copy only if x is
    not contiguous), N ≥ 16 — below 16 images PyTorch gives a single-threaded 1×1 convolution to its
    slow native kernel instead of oneDNN; None where :func:`linear` should keep ``F.linear``: few rows,
    or MKL at its full rate (:func:`mkl_sgemm_is_fast`)."""
    b, t, c = x.shape
    rows = b * t
    if rows < CONV_MIN_ROWS or mkl_sgemm_is_fast():
        return None
    n = 16 if rows % 16 == 0 else b if b >= 16 else None
    return None if n is None else x.reshape(n, rows // n, c).permute(0, 2, 1).unsqueeze(2)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for x [B, T, C_in] → [B, T, C_out] (see the module doc)."""
    image = as_image(x) if x.dim() == 3 and x.is_contiguous() else None
    if image is None:
        return F.linear(x, weight, bias)
    out = F.conv2d(image, weight[:, :, None, None], bias)  # [N, C_out, 1, W], channels-last
    return out.squeeze(2).permute(0, 2, 1).reshape(*x.shape[:2], -1)


class Linear(nn.Linear):
    """``nn.Linear`` through :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


class GRU(nn.Module):
    """One-layer batch-first GRU, ``nn.GRU(input_size, hidden_size, batch_first=True)``'s parameters
    and equations: x [B, T, I], state [1, B, H] or None → (outputs [B, T, H], last state [1, B, H])."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size))
        bound = 1 / math.sqrt(hidden_size)  # nn.GRU's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"GRU expects [batch, frames, {self.input_size}], got {list(x.shape)}")
        h0 = x.new_zeros(x.shape[0], self.hidden_size) if state is None else state[0]
        gates_x = linear(x, self.weight_ih_l0, self.bias_ih_l0)  # [B, T, 3H]; bf16 under autocast
        # The recurrence stays in the weights' dtype under autocast: h is rounded at each of T steps, and at [16, 512] a
        # bf16 product is no faster (Intel Xeon, family 6, model 207: 203 µs against 240).
        with autocast_off(x):
            gates_x, h0 = gates_x.to(self.weight_hh_l0.dtype), h0.to(self.weight_hh_l0.dtype)
            if torch.is_grad_enabled() and (gates_x.requires_grad or h0.requires_grad):
                outputs = _Recurrence.apply(gates_x, h0, self.weight_hh_l0, self.bias_hh_l0)
            else:
                outputs = recurrence(gates_x, h0, self.weight_hh_l0, self.bias_hh_l0)[0][:, 1:]
        return outputs, outputs[:, -1].unsqueeze(0)


def linear_weight_grad(grad_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Σ_{b,t} grad_out[b, t]ᵀ x[b, t]: the weight gradient [O, I] of :func:`linear` from grad_out
    [B, T, O] and x [B, T, I], as the oneDNN convolution's weight gradient (see the module doc)."""
    grad_image, image = as_image(grad_out), as_image(x)
    if grad_image is None or image is None or grad_image.shape[0] != image.shape[0]:
        return grad_out.reshape(-1, grad_out.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
    weight = x.new_empty(grad_out.shape[-1], x.shape[-1], 1, 1)
    return torch.ops.aten.convolution_backward(grad_image, image, weight, None, [1, 1], [0, 0], [1, 1], False,
                                               [0, 0], 1, [False, True, False])[1][:, :, 0, 0]


class FixedProduct:
    """x [B, I] → x Wᵀ (+ b) for one weight W [O, I] over many small products (a recurrence's steps).
    Where MKL is slow (:func:`mkl_sgemm_is_fast`), oneDNN's inner product on W converted once; elsewhere
    ``addmm`` on a contiguous copy of Wᵀ (MKL's row-major × row-major case, ~2× the transposed one on
    the Xeon). ``addmm`` on a view of Wᵀ where oneDNN is not built in, the tensors are not float32 on
    the CPU, or for fewer than MIN_USES products (a stream's few frames: a conversion or copy of W
    would cost more than it saves)."""

    MIN_USES = 32

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, uses: int = MIN_USES):
        many = uses >= self.MIN_USES
        weight, bias = weight.detach(), None if bias is None else bias.detach()
        self.onednn = (many and not mkl_sgemm_is_fast() and torch.backends.mkldnn.is_available()
                       and weight.device.type == "cpu" and weight.dtype == torch.float32)
        if self.onednn:
            self.weight = weight.contiguous().to_mkldnn()
            self.bias = None if bias is None else bias.contiguous().to_mkldnn()
        else:
            self.weight_t, self.bias = weight.t().contiguous() if many else weight.t(), bias

    def __call__(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The product written into ``out`` [B, O]; returns ``out``."""
        if self.onednn:
            return out.copy_(torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), self.weight, self.bias).to_dense())
        if self.bias is None:
            return torch.mm(x, self.weight_t, out=out)
        return torch.addmm(self.bias, x, self.weight_t, out=out)


def recurrence(gates_x: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor):
    """(h_0 … h_T [B, T + 1, H], r·z·n [B, T, 3H], recurrent gates W_hh h + b_hh [B, T, 3H]) from
    input gates [B, T, 3H] (gate order r, z, n), h_0 [B, H], W_hh [3H, H], b_hh [3H]. Every step
    writes into these buffers (``out=``): no copies."""
    b, t, three_h = gates_x.shape
    hidden = three_h // 3
    hs = gates_x.new_empty(b, t + 1, hidden)
    hs[:, 0] = h0
    rzn, gh_all = gates_x.new_empty(b, t, three_h), gates_x.new_empty(b, t, three_h)
    recurrent, h = FixedProduct(w_hh, b_hh, uses=t), hs[:, 0]
    for i in range(t):
        gx, gh, gates = gates_x[:, i], gh_all[:, i], rzn[:, i]
        recurrent(h, out=gh)
        rz, n = gates[:, :2 * hidden], gates[:, 2 * hidden:]
        torch.add(gx[:, :2 * hidden], gh[:, :2 * hidden], out=rz).sigmoid_()
        torch.addcmul(gx[:, 2 * hidden:], rz[:, :hidden], gh[:, 2 * hidden:], out=n).tanh_()
        h = torch.lerp(n, h, rz[:, hidden:], out=hs[:, i + 1])  # (1 − z) · n + z · h
    return hs, rzn, gh_all


class _Recurrence(torch.autograd.Function):
    """h_1 … h_T [B, T, H] from input gates [B, T, 3H], h_0 [B, H], W_hh [3H, H], b_hh [3H]."""

    @staticmethod
    def forward(ctx, gates_x, h0, w_hh, b_hh):
        hs, rzn, gh_all = recurrence(gates_x, h0, w_hh, b_hh)
        ctx.save_for_backward(hs, rzn, gh_all, w_hh)
        return hs[:, 1:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        hs, rzn, gh_all, w_hh = ctx.saved_tensors
        b, t, hidden = grad_out.shape
        grad_gx = grad_out.new_empty(b, t, 3 * hidden)  # ∂L/∂(input gates)
        grad_gh = grad_out.new_empty(b, t, 3 * hidden)  # ∂L/∂(recurrent gates): r, z as grad_gx, then r·∂n
        dh, back = grad_out.new_zeros(b, hidden), FixedProduct(w_hh.t(), uses=t)
        dh_rec = torch.empty_like(dh)
        for i in range(t - 1, -1, -1):
            dh = dh + grad_out[:, i]
            r, z, n = rzn[:, i, :hidden], rzn[:, i, hidden:2 * hidden], rzn[:, i, 2 * hidden:]
            ghn, h_prev, gh = gh_all[:, i, 2 * hidden:], hs[:, i], grad_gh[:, i]
            dr, dz, dn = gh[:, :hidden], gh[:, hidden:2 * hidden], grad_gx[:, i, 2 * hidden:]
            one_minus_z = 1 - z
            torch.mul(dh, one_minus_z, out=dn).mul_(1 - n * n)
            torch.sub(h_prev, n, out=dz).mul_(dh).mul_(z).mul_(one_minus_z)
            torch.mul(dn, ghn, out=dr).mul_(r).mul_(1 - r)
            torch.mul(dn, r, out=gh[:, 2 * hidden:])
            dh = back(gh, out=dh_rec).add_(dh * z)
        grad_gx[:, :, :2 * hidden] = grad_gh[:, :, :2 * hidden]
        needs = ctx.needs_input_grad
        grad_w_hh = linear_weight_grad(grad_gh, hs[:, :-1]) if needs[2] else None
        grad_b_hh = grad_gh.sum((0, 1)) if needs[3] else None
        return grad_gx, dh if needs[1] else None, grad_w_hh, grad_b_hh


def _image(x: torch.Tensor) -> torch.Tensor:
    """x [B, T, C] as a channels-last image [B, C, 1, T] (a view; oneDNN's fast layout)."""
    return x.permute(0, 2, 1).unsqueeze(2)


def _fused_relu_available(x: torch.Tensor) -> bool:
    """Whether oneDNN can apply the ReLU inside the convolution (a post-op: no pass over the output of its own)."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
            and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))


# At most this many frames (batch × time), a oneDNN convolution's fixed cost (the weight's re-layout and the
# primitive: 80–100 µs per call on the Xeon) outweighs its arithmetic: the stacked kernel taps times Wᵀ, one product,
# take its place. Short renders meet it (Table 5's paper procedure renders 1–64 frames); training never does.
SMALL_CONV_FRAMES = 256


def _correlate_by_taps(x: torch.Tensor, weight: torch.Tensor, dilation: int, start: int, bias: torch.Tensor | None,
                       relu: bool) -> torch.Tensor:
    """:func:`_correlate` for few frames: the taps x[b, t + start + j·d] stacked input-channel-major [B·T, I·K], as
    W [O, I, K] is laid out (so Wᵀ is a view, not a copy), then one product."""
    b, t, c_in = x.shape
    c_out, _, kernel = weight.shape
    pad = (kernel - 1) * dilation
    padded = F.pad(x, (0, 0, pad, pad))  # x[b, s] sits at padded[b, s + pad]
    first = start + pad
    taps = torch.stack([padded[:, first + j * dilation:first + j * dilation + t] for j in range(kernel)], -1)
    w = weight.reshape(c_out, c_in * kernel).t()
    taps = taps.reshape(b * t, c_in * kernel)
    out = (torch.mm(taps, w) if bias is None else torch.addmm(bias, taps, w)).view(b, t, c_out)
    return torch.relu(out) if relu else out


def _correlate(x: torch.Tensor, weight: torch.Tensor, dilation: int, start: int, bias: torch.Tensor | None = None,
               relu: bool = False):
    """out[b, t] = Σ_j x[b, t + start + j·d] W[:, :, j] (+ b), zero outside x, then max(·, 0) if ``relu``:
    x [B, T, I], W [O, I, K] → [B, T, O], as one oneDNN channels-last convolution padded by (K − 1)·d on both
    sides: a view of its [B, T + (K − 1)·d, O] output (no copy; the next operation makes its own). The ReLU is
    oneDNN's post-op where it has one (the same values: max is exact), else ``torch.relu`` on the view. At most
    SMALL_CONV_FRAMES frames: :func:`_correlate_by_taps`."""
    pad = (weight.shape[-1] - 1) * dilation
    if not -pad <= start <= 0:
        raise ValueError(f"start {start} outside [−{pad}, 0]")
    if x.shape[0] * x.shape[1] <= SMALL_CONV_FRAMES:
        return _correlate_by_taps(x, weight, dilation, start, bias, relu)
    w = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # [O, I, 1, K]
    if relu and _fused_relu_available(x):
        out = torch.ops.mkldnn._convolution_pointwise(_image(x), w, bias, [0, pad], [1, 1], [1, dilation], 1,
                                                      "relu", [], "")
        relu = False
    else:
        out = F.conv2d(_image(x), w, bias, dilation=(1, dilation), padding=(0, pad))  # [B, O, 1, T + pad]
    t = x.shape[1]
    out = out.squeeze(2).permute(0, 2, 1)[:, start + pad:start + pad + t]
    return torch.relu(out) if relu else out


class _CausalConv(torch.autograd.Function):
    """y = epilogue(conv(x)), conv(x)[b, t] = Σ_k x[b, t − (K − 1 − k)·d] W[:, :, k] + bias (x zero before t = 0),
    epilogue: ReLU if ``relu``, then × ``keep`` [B, T, O] (uint8 0/1) and × ``scale`` (inverted dropout).
    x [B, T, I], W [O, I, K], bias [O] → y [B, T, O]; see :func:`causal_conv`."""

    @staticmethod
    def forward(ctx, x, weight, bias, dilation, relu, keep, scale):
        pad = (weight.shape[-1] - 1) * dilation
        dropout = keep is not None
        if dropout:  # ReLU(s·z) = s·ReLU(z) for s ≥ 0: the dropout's scale on the small W and b, not on y
            weight, bias = weight * scale, bias * scale
        y = _correlate(x, weight, dilation, -pad, bias, relu)  # a strided view of the padded output
        # one pass to a contiguous y, which the next layer reads without a copy: × the mask (uint8: ~15× faster than
        # masked_fill_ or × bool on Zen 5) or a copy
        y = y * keep if dropout else y.contiguous() if relu else y
        ctx.dilation, ctx.relu, ctx.scale = dilation, relu, scale if dropout else 1.0
        ctx.save_for_backward(x, weight, y if relu else None)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, weight, y = ctx.saved_tensors  # weight: × scale already, as in forward
        d, kernel = ctx.dilation, weight.shape[-1]
        # ∂/∂(conv output): ReLU passes where y > 0 (dropped elements are 0 in y: their gradient is 0 too)
        g = torch.ops.aten.threshold_backward(grad_y, y, 0) if ctx.relu else grad_y
        g = g.contiguous()
        scale = ctx.scale  # dropout's factor: ∂(s·W)/∂W
        grad_x = grad_w = grad_b = None
        needs = ctx.needs_input_grad
        if needs[0]:  # x[s] fed y[s + (K − 1 − k)·d] through W[:, :, k]: a correlation with the flipped, transposed W
            grad_x = _correlate(g, weight.flip(-1).transpose(0, 1), d, 0)
        if needs[1]:  # Σ_{b,t} g[b, t]ᵀ x[b, t − shift], per tap
            x = x.contiguous()
            grad_w = torch.stack([shifted_weight_grad(g, x, (kernel - 1 - k) * d) for k in range(kernel)], -1)
            grad_w.mul_(scale)
        if needs[2]:
            grad_b = g.sum((0, 1)).mul_(scale)
        return grad_x, grad_w, grad_b, None, None, None, None


def shifted_weight_grad(g: torch.Tensor, x: torch.Tensor, shift: int) -> torch.Tensor:
    """Σ_b Σ_{t ≥ shift} g[b, t]ᵀ x[b, t − shift] [O, I] from contiguous g [B, T, O] and x [B, T, I], without a
    shifted copy of x: one product over the flattened rows (row r of g with row r − shift of x: contiguous views;
    oneDNN wants a multiple of 16 rows, so the first few go to a small product), less the pairs that it takes
    across the batch boundaries (g[b, t < shift] with x[b − 1, T − shift + t])."""
    b, t, o = g.shape
    if shift == 0:
        return linear_weight_grad(g, x)
    if shift >= t:
        return g.new_zeros(o, x.shape[-1])
    g_flat, x_flat = g.view(b * t, o), x.view(b * t, -1)
    start = shift + (b * t - shift) % 16
    grad = linear_weight_grad(g_flat[None, start:], x_flat[None, start - shift:b * t - shift])
    if start > shift:
        grad.addmm_(g_flat[shift:start].t(), x_flat[:start - shift])
    if b > 1:
        across = torch.bmm(g[1:, :shift].transpose(1, 2), x[:-1, t - shift:])  # [B − 1, O, I]
        grad.sub_(across.sum(0))
    return grad


def causal_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int = 1,
                relu: bool = False, keep: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
    """A causal dilated convolution on channels-last frames, x [B, T, C_in] → [B, T, C_out], weight [C_out, C_in, K]
    (``nn.Conv1d``'s layout), with an optional ReLU and inverted-dropout epilogue (``keep``: uint8 [B, T, C_out],
    1 = kept; kept values × ``scale``). Equal to ``F.conv1d(F.pad(x.mT, ((K − 1)·d, 0)), weight, bias,
    dilation=d).mT`` then the epilogue, to float32 rounding, forward and backward.

    Why: oneDNN runs a channels-last convolution at ~230 GFLOP/s on Zen 5, ~2× ``conv1d`` on [B, C, T] at dilation 1,
    and the hand-written backward (the input's gradient as one more forward convolution, the weight's as one
    product per tap) is ~1.4× faster than ``convolution_backward``; the ReLU writes a contiguous output (the next
    layer reads it without a copy), dropout's scale is folded into W and b, its mask multiplies in place, and one
    tensor is kept for the backward instead of three."""
    if x.dim() != 3 or weight.dim() != 3 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"causal_conv expects x [batch, frames, {weight.shape[1]}] and weight "
                         f"[C_out, C_in, kernel], got {list(x.shape)} and {list(weight.shape)}")
    if keep is not None and not relu:
        raise ValueError("causal_conv's dropout epilogue follows its ReLU: pass relu=True with keep")
    if bias is None:
        bias = weight.new_zeros(weight.shape[0])
    low = autocast_dtype(x)
    if low is None:
        return _CausalConv.apply(x, weight, bias, dilation, relu, keep, scale)
    # Under autocast (an option, never the default): forward and backward in ``low`` (bf16: AMX on Intel
    # Xeons); the gradients reach the float32 parameters through the casts.
    with autocast_off(x):
        return _CausalConv.apply(x.to(low), weight.to(low), bias.to(low), dilation, relu, keep, scale)
