"""librosa's pYIN (numba) must run on every machine: importing ddx7 sets a portable numba CPU target.

Before ddx7 set it, pYIN segfaulted on an AMD EPYC (numba's host target znver3). Each check runs in a fresh
interpreter, since numba reads its target once, when it is first imported."""

import math
import os
import subprocess
import sys

PYIN_440 = """
import ddx7, os, numpy as np, librosa
y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
f0, voiced, _ = librosa.pyin(y, fmin=50, fmax=2000, sr=16000)
print(os.environ["NUMBA_CPU_NAME"], float(np.nanmedian(f0[voiced])))
"""


def run_fresh(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=300)


def test_pyin_runs_after_importing_ddx7():
    out = run_fresh(PYIN_440)
    assert out.returncode == 0, f"pYIN crashed (exit {out.returncode}): {out.stderr[-500:]}"
    target, f0 = out.stdout.split()
    assert target == "generic"
    assert abs(1200 * math.log2(float(f0) / 440.0)) < 10  # cents


def test_a_users_numba_target_is_kept():
    out = run_fresh("import ddx7, os; print(os.environ['NUMBA_CPU_NAME'])", NUMBA_CPU_NAME="x86-64")
    assert out.returncode == 0 and out.stdout.strip() == "x86-64"
