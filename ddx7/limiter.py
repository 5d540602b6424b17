"""A peak limiter for renderings that go over full scale: gain only around the overs, the rest as rendered.

    g(n) = mean_{|k| ≤ W} min_{|j| ≤ W} min(1, c / |y(n + k + j)|)

Each term of the mean is at most min(1, c / |y(n)|) (the inner minimum's window reaches n), so |g(n) y(n)| ≤ c
everywhere, and g = 1 more than 2W samples away from any over. ``W`` = 5 ms: a 10 ms hold and ramp, no clicks.

Why not scale the whole file by c / peak: a model renders at the loudness its input asks for, and one burst (the
Table 1 trumpet reached 2.5× full scale on one note of an unseen phrase) made every other note 8 dB too quiet.
"""

from __future__ import annotations

import numpy as np

CEILING = 0.99
WINDOW = 80  # samples either side: 5 ms at 16 kHz


def limiter_gain(audio: np.ndarray, ceiling: float = CEILING, window: int = WINDOW) -> np.ndarray:
    """g (float32, same length) for the whole of ``audio``; samples beyond its ends count as silence."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    if not 0 < ceiling:
        raise ValueError(f"limiter ceiling must be positive, got {ceiling}")
    magnitude = np.abs(np.asarray(audio, dtype=np.float64))
    # 2W samples of silence either side: the mean near an end reads the held gain up to W beyond it, which
    # reads the raw gain up to 2W beyond it (taking the held gain there as 1 would break the bound at the ends)
    raw = np.pad(np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-30)), 2 * window, constant_values=1.0)
    size = 2 * window + 1
    held = minimum_filter1d(raw, size, mode="constant", cval=1.0)
    gain = uniform_filter1d(held, size, mode="constant", cval=1.0)
    return gain[2 * window: 2 * window + len(magnitude)].astype(np.float32)


def limit(audio: np.ndarray, ceiling: float = CEILING, window: int = WINDOW) -> np.ndarray:
    """``audio`` × :func:`limiter_gain`; unchanged (the same values) when it stays within ``ceiling``."""
    audio = np.asarray(audio, dtype=np.float32)
    if not len(audio) or float(np.abs(audio).max()) <= ceiling:
        return audio
    return (audio * limiter_gain(audio, ceiling, window)).astype(np.float32)


def limited_blocks(spool, ceiling: float = CEILING, window: int = WINDOW, size: int = 1 << 16):
    """:func:`limit` over a spool (ddx7.audio_io.Spool), block by block in bounded memory: each block is read with
    2 × ``window`` samples of context either side, all the gain of its samples depends on; equal to
    ``limit(spool.array())``."""
    margin = 2 * window
    for start in range(0, spool.samples, size):
        stop = min(start + size, spool.samples)
        context = spool.read(start - margin, stop + margin)
        inner = context[margin: margin + stop - start]
        if float(np.abs(context).max(initial=0.0)) <= ceiling:
            yield inner
        else:
            yield (inner * limiter_gain(context, ceiling, window)[margin: margin + stop - start]).astype(np.float32)
