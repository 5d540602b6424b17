"""DDX7: differentiable FM synthesis of musical instrument sounds (ISMIR 2022), rebuilt."""

import os

# numba (librosa's pYIN, our default f0 for `ddx7 resynth`) compiles for the host CPU by default. On an AMD
# EPYC (LLVM target znver3; numba 0.68.1, llvmlite 0.50) the compiled pYIN segfaults in its parabolic
# interpolation. A portable target avoids that and compiles the same code on every machine, at ~10 % of pYIN's
# time. Set before numba is first imported (ddx7 imports librosa lazily); a user's own setting wins.
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

SAMPLE_RATE = 16000
HOP = 64  # samples per control frame: 250 frames/s
FRAME_RATE = SAMPLE_RATE // HOP

__version__ = "0.1.0"
