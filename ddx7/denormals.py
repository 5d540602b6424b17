"""Float32 denormals (0 < |x| < 1.18e-38) flushed to zero while a model trains.

Late in a DDX7 training, denormals fill the backward pass: a saturated sigmoid (an envelope pinned at 0
or at its ceiling) has σ'(x) = σ(x)(1 − σ(x)) below 1e-38 once |x| > 87, and Adam's first moment of a
weight whose gradient has died shrinks by 0.9 per step until it is denormal. x86 CPUs compute on
denormal operands through a microcode assist, tens of times slower per operation. Measured (``ddx7 bench
denormals``) on flute-4osc-y-imax2 at step 17,400: 2 % of the weights, 58 % of Adam's ``exp_avg`` and
2 % of the gradients were denormal, and the backward took 119 ms against 41 ms flushed; over a full-profile
run the step time had doubled (0.09 → 0.18 s). Flushing changes nothing a float32 weight can hold: a
flushed gradient or moment is below 1.2e-38, and Adam's update from it below lr · 1.2e-38 / eps.

``torch.set_flush_denormal`` sets the calling thread's floating-point mode (x86 FTZ and DAZ), invisible to
torch; :func:`flush_denormals` sets it for a block and restores what it found, which :func:`flushing` reads by
computing with a denormal. Only the calling thread: intra-op worker threads (``--threads`` > 1) take the mode
their creator had when they started, so a pool started before the block keeps computing on denormals (measured:
half of a 2-thread product). The grid trains one thread per process, where the block covers every operation.
"""

from __future__ import annotations

import contextlib

import torch

DENORMAL = 1e-39  # a float32 denormal: below torch.finfo(torch.float32).tiny = 1.18e-38


def flushing() -> bool:
    """Whether this thread flushes float32 denormals to zero now (False also where the CPU cannot)."""
    return (torch.tensor([DENORMAL], dtype=torch.float32) * 1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals(enabled: bool = True):
    """Within the block, float32 denormals read and compute as zero (``enabled``; False keeps them);
    the mode found on entry is restored on exit."""
    before = flushing()
    torch.set_flush_denormal(enabled)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def count_denormals(tensors) -> tuple[int, int]:
    """(denormal elements, all elements) over the float32 tensors in ``tensors`` (others skipped)."""
    tiny = torch.finfo(torch.float32).tiny
    found = total = 0
    with flush_denormals(False):  # flushing, a denormal would compare equal to 0
        for t in tensors:
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                found += int(((t != 0) & (t.abs() < tiny)).sum())
                total += t.numel()
    return found, total
