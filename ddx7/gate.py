"""Silence in, silence out: an output gate driven by the level of the input recording.

The decoders map the loudness floor (−80 dB) to small but non-zero envelopes, so a model fed
digital silence plays a quiet tone (−42 dBFS for the shipped violin). Resynthesis and streaming
therefore multiply the model's output by a gain that closes where the input is silent.

Per frame i, the input level is the RMS (dBFS) of the ``window`` samples that end with the
frame's last sample (causal: a stream knows it as soon as the frame has arrived, and a whole
file gives the same values):

    open_i = level_i > threshold_db
    g_i    = 1 if open_i else g_{i−1} · exp(−hop / (release_s · fs)), and 0 once below 1e-3 (−60 dB)

so the gate opens within the frame a sound starts, and closes with a short exponential release
(the model's reverb tail and note end fade instead of being cut). As for the synth's controls,
the gain ramps linearly from frame i−1 to frame i across frame i's samples (``upsample_frames``),
and a stream that starts silent starts at exactly 0. The level is loudness-independent (the
A-weighted loudness of a pure sine at full scale is −78 dB: no threshold on it separates a
flute's soft note from silence).

``SilenceGate`` is stateful: feeding a recording block by block gives the same gains as one call
on the whole of it (each frame's RMS sums the same samples in the same order).
"""

from __future__ import annotations

import math

import numpy as np

from . import HOP, SAMPLE_RATE

THRESHOLD_DBFS = -70.0
RELEASE_S = 0.05
WINDOW = 1024
CLOSED = 1e-3  # -60 dB: from here the gain snaps to 0 (after 0.35 s of release)


def rms_db(windows: np.ndarray) -> np.ndarray:
    """Level of each row of ``windows`` [frames, samples]: RMS in dBFS (float64 sums; −300 for zeros)."""
    power = np.square(windows, dtype=np.float64).mean(axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-30))


class SilenceGate:
    """``gate(input_block, output_block) -> gated output_block`` for blocks of whole frames."""

    def __init__(self, threshold_db: float = THRESHOLD_DBFS, release_s: float = RELEASE_S, window: int = WINDOW,
                 hop: int = HOP, sample_rate: int = SAMPLE_RATE):
        self.threshold_db, self.window, self.hop = threshold_db, int(window), int(hop)
        self.decay = math.exp(-hop / (release_s * sample_rate))
        # the ramp of synth.sampling.upsample_frames (frame i − 1 → frame i across frame i), in float64 numpy
        self.ramp = (np.arange(1, hop + 1, dtype=np.float64) / hop)[None, :]
        self.reset()

    def reset(self):
        self.history = np.zeros(self.window - self.hop, np.float32)
        self.gain = None  # the last frame's gain; None before the first frame

    def levels_db(self, block) -> np.ndarray:
        """Input level (dBFS RMS over the causal window) of each frame of ``block``; updates the history."""
        block = np.asarray(block, np.float32)
        if block.ndim != 1 or len(block) % self.hop:
            raise ValueError(f"gate blocks must be 1-D and a multiple of {self.hop} samples, got shape {block.shape}")
        k = len(block) // self.hop
        if k == 0:
            return np.zeros(0)
        buf = np.concatenate([self.history, block])
        self.history = buf[len(buf) - len(self.history):]
        ends = np.arange(1, k + 1) * self.hop + len(buf) - len(block)
        windows = np.lib.stride_tricks.sliding_window_view(buf, self.window)[ends - self.window]
        return rms_db(windows)

    def gains(self, block) -> np.ndarray:
        """Per-frame gains [k] for an input block of k frames."""
        levels = self.levels_db(block)
        out = np.empty(len(levels))
        g = self.gain
        for i, level in enumerate(levels):
            if level > self.threshold_db:
                g = 1.0
            else:
                g = 0.0 if g is None else g * self.decay
                g = 0.0 if g < CLOSED else g
            out[i] = g
        return out

    def __call__(self, input_block, output_block) -> np.ndarray:
        """The model's output for these frames × the gate's gain, ramped per sample."""
        gains = self.gains(input_block)
        output_block = np.asarray(output_block, np.float32)
        if len(output_block) != len(gains) * self.hop:
            raise ValueError(f"output block has {len(output_block)} samples for {len(gains)} input frames")
        if len(gains) == 0:
            return output_block
        before = np.concatenate([[gains[0] if self.gain is None else self.gain], gains[:-1]])
        self.gain = float(gains[-1])
        per_sample = before[:, None] + (gains - before)[:, None] * self.ramp
        return (output_block * per_sample.reshape(-1)).astype(np.float32)
