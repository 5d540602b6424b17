"""DDX7: differentiable FM synthesis of musical instrument sounds (ISMIR 2022), rebuilt."""

SAMPLE_RATE = 16000
HOP = 64  # samples per control frame: 250 frames/s
FRAME_RATE = SAMPLE_RATE // HOP

__version__ = "0.1.0"
