"""Excerpts: the 4 s pieces of audio a dataset is made of, with what a build learns about them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import HOP, SAMPLE_RATE
from . import audio as A
from .hashing import sha256_bytes

FRAMES = A.EXCERPT_SAMPLES // HOP  # 1000 control frames per excerpt


@dataclass
class Excerpt:
    id: str  # "<stem>@<offset in seconds>", unique in a dataset
    piece: str  # the unit of the train / valid / test split
    source_file: str
    offset: int  # samples (at SAMPLE_RATE) into the peak-normalised recording
    n_valid: int  # real samples; the rest of ``audio`` is zero padding
    audio: np.ndarray  # float32 [EXCERPT_SAMPLES]
    f0_true: np.ndarray | None = None  # [FRAMES] the score's f0 (rendered corpus only)
    f0_mask: np.ndarray | None = None  # [FRAMES] bool: frames where f0_true is scored
    sha256: str = ""  # of the audio; computed when not given
    f0_hz: np.ndarray | None = None  # [FRAMES], set by the feature step
    periodicity: np.ndarray | None = None  # [FRAMES]
    loudness: np.ndarray | None = None  # [FRAMES] dB
    f0_seconds: float = 0.0  # time the f0 extraction took
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.sha256:
            self.sha256 = sha256_bytes(np.ascontiguousarray(self.audio, np.float32).tobytes())

    @property
    def valid_frames(self) -> int:
        return max(1, min(FRAMES, self.n_valid // HOP))


def excerpts_from_audio(x: np.ndarray, piece: str, source_file: str, stem: str,
                        f0_true=None, f0_mask=None) -> list[Excerpt]:
    """Peak-normalised recording [samples] -> 4 s excerpts, with the ground-truth f0 [frames]
    and its mask sliced along when given."""
    out = []
    for c in A.make_chunks(x):
        gt = m = None
        if f0_true is not None:
            fr = c.start // HOP
            nv = c.n_valid // HOP
            gt = np.zeros(FRAMES, np.float32)
            m = np.zeros(FRAMES, bool)
            seg = f0_true[fr: fr + nv]
            gt[: len(seg)] = seg
            m[: len(seg)] = f0_mask[fr: fr + nv]
        out.append(Excerpt(f"{stem}@{c.start / SAMPLE_RATE:08.3f}", piece, source_file, c.start,
                           c.n_valid, c.audio, gt, m))
    return out
