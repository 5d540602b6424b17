"""Losses.

Multi-scale spectral loss (DDSP): for each FFT size s, with |X_s| the STFT magnitude (Hann window,
hop s/4, i.e. 75 % overlap),

    L = Σ_s  mean|  |X_s| − |Y_s|  |  +  mean| log(|X_s| + ε) − log(|Y_s| + ε) |

The gradient is written by hand (one autograd node for all scales): the per-bin derivative
∂L/∂X = (sign(|X| − |Y|) + w·sign(log-diff) / (|X| + ε)) · X/|X| / mean-count goes back through the STFT
as an inverse real FFT and an overlap-add, which is several times faster than autograd through
``torch.stft`` (a full complex FFT per scale, ``index_add``) and holds one tensor per scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def _frames(audio: torch.Tensor, window: torch.Tensor, hop: int) -> torch.Tensor:
    """[B, N] → windowed frames [B, n_frames, n_fft] of the reflect-padded signal (``torch.stft`` center=True)."""
    n_fft = window.shape[0]
    padded = F.pad(audio[None], (n_fft // 2, n_fft // 2), mode="reflect")[0]
    return padded.unfold(-1, n_fft, hop) * window


def _frames_backward(grad_frames: torch.Tensor, window: torch.Tensor, hop: int, n: int) -> torch.Tensor:
    """Adjoint of :func:`_frames`: [B, n_frames, n_fft] → [B, n] (window, overlap-add, fold the reflect pad back)."""
    batch, n_frames, n_fft = grad_frames.shape
    pad, grad_frames = n_fft // 2, grad_frames * window
    padded_len, n_pieces = n + 2 * pad, -(-n_fft // hop)
    # overlap-add piece by piece (frame samples [r·hop, (r+1)·hop)): strided adds, much faster than F.fold
    out = grad_frames.new_zeros(batch, max(padded_len, (n_frames + n_pieces) * hop))
    for r in range(n_pieces):
        piece = grad_frames[:, :, r * hop:(r + 1) * hop]
        out[:, r * hop:(r + n_frames) * hop].view(batch, n_frames, hop)[..., :piece.shape[-1]] += piece
    grad = out[:, pad:pad + n].clone()
    grad[:, 1:pad + 1] += out[:, :pad].flip(-1)  # padded[i] = audio[pad − i]
    grad[:, n - 1 - pad:n - 1] += out[:, pad + n:padded_len].flip(-1)  # padded[pad + n + i] = audio[n − 2 − i]
    return grad


def _magnitude(spec: torch.Tensor) -> torch.Tensor:
    """|spec| as sqrt(re·re + im·im): same values as ``spec.abs()`` (within 1 ulp), ~2.4× faster on
    CPU (one fresh tensor, not the three of square → add → sqrt)."""
    parts = torch.view_as_real(spec)
    re, im = parts[..., 0], parts[..., 1]
    return torch.addcmul(re * re, im, im).sqrt_()


def _magnitude_gradient(spec: torch.Tensor, mag: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """coef · spec/|spec| (0 where |spec| = 0, as autograd's ``abs``), complex [B, n_frames, bins].

    Overwrites spec and coef."""
    scale = coef.div_(mag).masked_fill_(mag == 0, 0.0)  # in place; cheaper than spec.sgn() · coef
    torch.view_as_real(spec).mul_(scale[..., None])
    return spec


class _MultiScaleSpectralDistance(torch.autograd.Function):
    """L(prediction, target) over all scales, each [B, N]; see the module docstring."""

    @staticmethod
    def forward(ctx, prediction, target, windows, hops, log_weight, eps):
        needs_grad = ctx.needs_input_grad[:2]
        loss, ctx.spec_grads = prediction.new_zeros(()), []
        for window, hop in zip(windows, hops):
            # prediction and target apart, not stacked: halves the largest tensors (fewer fresh pages to fault in)
            specs = [torch.fft.rfft(_frames(audio, window, hop)) for audio in (prediction, target)]  # [B, frames, bins]
            mags = [_magnitude(spec) for spec in specs]
            diff = mags[0] - mags[1]
            mags_eps = [mag + eps for mag in mags]
            log_diff = mags_eps[0].log().sub_(mags_eps[1].log())
            count = diff.numel()
            if any(needs_grad):
                sign_diff, sign_log = diff.sign(), log_diff.sign().mul_(log_weight)
            # sum() not vector_norm(·, 1): the latter sums naively (0.5 % off in float32 at these sizes)
            loss += (diff.abs_().sum() + log_weight * log_diff.abs_().sum()) / count
            if not any(needs_grad):
                continue
            # per-bin scale: 1/count, halved for the bins that stand for two (±k) in the inverse real FFT
            scale = diff.new_full((specs[0].shape[-1],), 1 / count)
            scale[1:(window.shape[0] + 1) // 2] /= 2
            sides = zip(specs, mags, mags_eps, (1, -1), needs_grad)
            ctx.spec_grads.append([
                _magnitude_gradient(spec, mag, torch.addcdiv(sign_diff, sign_log, mag_eps).mul_(scale * side))
                if need else None for spec, mag, mag_eps, side, need in sides])
        ctx.windows, ctx.hops, ctx.n = windows, hops, prediction.shape[-1]
        return loss

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, grad_loss):
        grads = [None, None]
        for window, hop, spec_grads in zip(ctx.windows, ctx.hops, ctx.spec_grads):
            for i, spec_grad in enumerate(spec_grads):
                if spec_grad is not None:
                    frames = torch.fft.irfft(spec_grad, n=window.shape[0], norm="forward")
                    g = _frames_backward(frames, window, hop, ctx.n)
                    grads[i] = g if grads[i] is None else grads[i].add_(g)
        ctx.spec_grads = None
        return tuple(None if g is None else g * grad_loss for g in grads) + (None,) * 4


class MultiScaleSpectralLoss(nn.Module):
    def __init__(self, fft_sizes=(2048, 1024, 512, 256, 128, 64), overlap: float = 0.75, log_weight: float = 1.0,
                 eps: float = 1e-7):
        super().__init__()
        self.fft_sizes = tuple(fft_sizes)
        self.overlap = overlap
        self.log_weight = log_weight
        self.eps = eps
        for n in self.fft_sizes:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def hop(self, n_fft: int) -> int:
        return max(1, int(n_fft * (1 - self.overlap)))

    def magnitude(self, audio: torch.Tensor, n_fft: int) -> torch.Tensor:
        """|STFT| [..., n_fft/2 + 1, n_frames] of audio [..., N] (as ``torch.stft``, center=True)."""
        spec = torch.fft.rfft(_frames(audio, getattr(self, f"window_{n_fft}"), self.hop(n_fft)))
        return _magnitude(spec).transpose(-1, -2)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of prediction and target audio [N] or [B, N]."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        windows = tuple(getattr(self, f"window_{n}") for n in self.fft_sizes)
        hops = tuple(self.hop(n) for n in self.fft_sizes)
        flat = (-1, prediction.shape[-1])
        return _MultiScaleSpectralDistance.apply(prediction.reshape(flat), target.reshape(flat), windows, hops,
                                                 self.log_weight, self.eps)
