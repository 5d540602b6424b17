"""The streaming DDX7 in C: :class:`NativeStreamingDDX7`, StreamingDDX7's interface and samples at a
fraction of its cost per block (issue 15).

    s = make_streamer(model, native=True)      # ddx7.stream: NativeStreamingDDX7(StreamingDDX7(model))
    audio = s.process(f0_block, ld_block)      # [B, k] frames → [B, k · hop], as StreamingDDX7
    s.reset(); s.set_intervention(ratios=..., env_gain=...); s.operator_phases()

Why: a 4 ms block of the TorchScript streamer is ~130 tensor operations of a few µs dispatch each, while
its arithmetic (a 5-block TCN of 128 channels on one frame, 6 operators × 128 fast samples, a 250-partition
reverb) is ~0.6 MFLOP. ddx7/native/stream_ddx7.c runs one frame in plain loops, so a block is one call.

The C source is compiled on first use with the machine's C compiler (``$CC``, else ``cc``) into
ddx7/native/build/, named by a hash of the source, the flags, the compiler and the CPU (``-march=native``:
a library built for one CPU is never loaded on another), written to a temporary file and renamed. No
compiler: a clear error, and the Python streamers still work (``make venv`` installs gcc where it can).

The weights and constants are those of :class:`ddx7.stream.StreamingDDX7` (read, not re-derived), and
tests/test_stream_native.py and tests/test_stream.py check this copy against the offline model.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from .synth.fm import check_env_gain, check_ratios

SOURCE = Path(__file__).parent / "native" / "stream_ddx7.c"
BUILD_DIR = Path(__file__).parent / "native" / "build"
# -ffp-contract=off: the float64 phase sum must not become FMAs (see the C file); -fno-math-errno: errno only
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-std=c11", "-shared", "-fPIC")

_P = ctypes.POINTER
_int_p, _float_p, _double_p = _P(ctypes.c_int), _P(ctypes.c_float), _P(ctypes.c_double)


class _Config(ctypes.Structure):
    """ddx7s_config of stream_ddx7.c, field for field."""
    _fields_ = [
        ("n_convs", ctypes.c_int), ("kernel", ctypes.c_int), ("n_blocks", ctypes.c_int),
        ("c_in", _int_p), ("c_out", _int_p), ("dilation", _int_p),
        ("hidden", _int_p), ("has_residual", _int_p),
        ("weights", _P(_float_p)),
        ("scale", ctypes.c_float * 2), ("offset", ctypes.c_float * 2),
        ("hop", ctypes.c_int), ("oversample", ctypes.c_int), ("n_ops", ctypes.c_int), ("n_carriers", ctypes.c_int),
        ("max_ol", ctypes.c_float), ("two_pi", ctypes.c_float),
        ("order", _int_p), ("n_mods", _int_p), ("mods", _int_p), ("carriers", _int_p),
        ("ratios", _double_p),
        ("omega_scale", ctypes.c_double), ("two_pi_d", ctypes.c_double),
        ("rebase_samples", ctypes.c_longlong),
        ("ramp", _float_p),
        ("dec_rows", ctypes.c_int),
        ("decimation", _float_p),
        ("reverb_active", ctypes.c_int), ("partitions", ctypes.c_int),
        ("rotations", _float_p),
        ("forward_dft", _double_p),
        ("inverse_dft", _double_p),
    ]


_LIBRARY = None


def _compiler() -> str:
    cc = os.environ.get("CC") or "cc"
    if shutil.which(cc) is None:
        raise RuntimeError(f"no C compiler ({cc}) for the native streamer: install gcc (apt-get install gcc) "
                           "or use the Python streamers (StreamingDDX7, compile_streaming)")
    return cc


def _cpu_id() -> str:
    """The CPU's model and feature flags (what -march=native compiles for)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    wanted = ("model name", "flags", "cpu family", "model\t")
    return "\n".join(dict.fromkeys(line for line in lines if line.startswith(wanted)))


def library_path() -> Path:
    """Where the library for this source, compiler and CPU lives (built or not)."""
    cc = _compiler()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), " ".join(FLAGS), version, _cpu_id()]).encode()).hexdigest()
    return BUILD_DIR / f"stream_ddx7-{key[:16]}.so"


def build() -> Path:
    """Compile the C streamer if this machine has no build of the current source; its path."""
    path = library_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stream_ddx7-", suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        done = subprocess.run([_compiler(), *FLAGS, str(SOURCE), "-o", tmp, "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"compiling {SOURCE.name} failed:\n{done.stderr.strip()}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)  # atomic: a concurrent build renames the same bytes
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_library():
    """The compiled library (built on first use), its functions typed."""
    global _LIBRARY
    if _LIBRARY is None:
        lib = ctypes.CDLL(str(build()))
        vp = ctypes.c_void_p
        lib.ddx7s_create.restype, lib.ddx7s_create.argtypes = vp, [_P(_Config)]
        lib.ddx7s_free.restype, lib.ddx7s_free.argtypes = None, [vp]
        lib.ddx7s_reset.restype, lib.ddx7s_reset.argtypes = ctypes.c_int, [vp, ctypes.c_int]
        lib.ddx7s_process.restype = ctypes.c_int
        lib.ddx7s_process.argtypes = [vp, vp, vp, ctypes.c_int, ctypes.c_int, vp]
        lib.ddx7s_set_ratios.restype, lib.ddx7s_set_ratios.argtypes = None, [vp, vp]
        lib.ddx7s_set_env_gain.restype, lib.ddx7s_set_env_gain.argtypes = None, [vp, vp]
        lib.ddx7s_phases.restype, lib.ddx7s_phases.argtypes = None, [vp, vp]
        _LIBRARY = lib
    return _LIBRARY


def _ints(values) -> ctypes.Array:
    values = [int(v) for v in values] or [0]
    return (ctypes.c_int * len(values))(*values)


def _config(ref) -> tuple[_Config, list]:
    """The C config from a StreamingDDX7's weights and constants, and the arrays it points into (kept alive
    until ddx7s_create has copied them)."""
    keep = []

    def ptr(t: Tensor, dtype, ctype):
        t = t.detach().to(dtype).contiguous()
        keep.append(t)
        return ctypes.cast(t.data_ptr(), ctype)

    k = ref.n_ops
    weights = [ptr(w, torch.float32, _float_p) for w in ref.weights]
    weight_array = (_float_p * len(weights))(*weights)
    mods = torch.zeros(k, k, dtype=torch.int32)
    for op, ms in enumerate(ref.modulators):
        mods[op, :len(ms)] = torch.tensor(ms, dtype=torch.int32)
    c_out = [w.shape[1] for w in ref.weights]
    reverb = ref.reverb
    if reverb.partition != ref.hop:
        raise ValueError("the native streamer's reverb partition is one hop")
    oversampled = ref.oversample > 1
    ints = [_ints(ref.c_in), _ints(c_out), _ints(ref.dilations), _ints(ref.hidden), _ints(ref.has_residual),
            _ints(ref.order), _ints(len(m) for m in ref.modulators), _ints(ref.carriers)]
    keep += [weight_array, *ints]
    cfg = _Config(
        n_convs=len(ref.weights), kernel=ref.kernel, n_blocks=ref.n_blocks,
        c_in=ints[0], c_out=ints[1], dilation=ints[2], hidden=ints[3], has_residual=ints[4],
        weights=weight_array,
        scale=(ctypes.c_float * 2)(*ref.inputs.affine_scale.tolist()),
        offset=(ctypes.c_float * 2)(*ref.inputs.affine_offset.tolist()),
        hop=ref.hop, oversample=ref.oversample, n_ops=k, n_carriers=len(ref.carriers),
        max_ol=float(ref.max_ol), two_pi=float(ref.two_pi),
        order=ints[5], n_mods=ints[6], mods=ptr(mods, torch.int32, _int_p), carriers=ints[7],
        ratios=ptr(ref.phase.ratios, torch.float64, _double_p),
        omega_scale=float(ref.phase.omega_scale), two_pi_d=float(ref.phase.two_pi),
        rebase_samples=ref.phase.rebase_samples,
        ramp=ptr(ref.ramp, torch.float32, _float_p),
        dec_rows=ref.decimation_matrix.shape[0] if oversampled else 0,
        decimation=ptr(ref.decimation_matrix, torch.float32, _float_p),
        reverb_active=int(reverb.active), partitions=reverb.n,
        rotations=ptr(torch.view_as_real(reverb.rotations), torch.float32, _float_p),
        forward_dft=ptr(reverb.forward_dft, torch.float64, _double_p),
        inverse_dft=ptr(reverb.inverse_dft, torch.float64, _double_p),
    )
    return cfg, keep


class NativeStreamingDDX7:
    """Block-by-block DDX7 in C whose concatenated output equals the offline render (module doc).

    Built from a :class:`ddx7.stream.StreamingDDX7` ``ref`` (its weights, constants and intervention are
    copied; ``ref`` is not used afterwards), with its interface: ``process(f0 [B, k] Hz, loudness [B, k] dB)`` →
    audio [B, k · hop] float32, ``reset()``, ``set_intervention(ratios, env_gain)`` (mid-stream too: each
    operator keeps its phase), ``operator_phases()``. Inputs are checked on every block (f0 finite and
    > 0, loudness finite) before any state changes. CPU, float32, one thread.
    """

    def __init__(self, ref):
        if not (hasattr(ref, "weights") and hasattr(ref, "phase") and hasattr(ref, "reverb")):
            raise ValueError("NativeStreamingDDX7 is built from a StreamingDDX7: use make_streamer(model, native=True)")
        self.hop, self.sample_rate, self.n_ops = ref.hop, ref.sample_rate, ref.n_ops
        self._lib = load_library()
        cfg, keep = _config(ref)
        handle = self._lib.ddx7s_create(ctypes.byref(cfg))
        del keep
        if not handle:
            raise MemoryError("the native streamer could not allocate its state")
        self._handle = handle
        if ref.use_gain:
            self._set_gain(ref.env_gain)
        self.batch = 1
        self.fresh = True

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.ddx7s_free(handle)

    def _set_gain(self, gain):
        g = torch.as_tensor(gain, dtype=torch.float32).flatten().contiguous()
        self._lib.ddx7s_set_env_gain(self._handle, g.data_ptr())

    def reset(self):
        """Forget the stream: the next block starts a new one (of any batch size)."""
        self._reset(self.batch)

    def _reset(self, batch: int):
        if self._lib.ddx7s_reset(self._handle, batch) != 0:
            raise MemoryError("the native streamer could not allocate its state")
        self.batch = batch
        self.fresh = True

    def set_intervention(self, ratios=None, env_gain=None):
        """As StreamingDDX7.set_intervention: K ratios and/or K envelope gains; None keeps the setting."""
        check_ratios(ratios, self.n_ops)
        check_env_gain(env_gain, self.n_ops)
        if ratios is not None:
            r = torch.as_tensor(ratios, dtype=torch.float64).flatten().contiguous()
            self._lib.ddx7s_set_ratios(self._handle, r.data_ptr())
        if env_gain is not None:
            self._set_gain(env_gain)

    def operator_phases(self) -> Tensor:
        """Each operator's phase after the last sample rendered, in [0, 2π): [B, K] float64."""
        out = torch.empty(self.batch, self.n_ops, dtype=torch.float64)
        self._lib.ddx7s_phases(self._handle, out.data_ptr())
        return out

    def process(self, f0_hz: Tensor, loudness_db: Tensor) -> Tensor:
        """f0 [B, k] (Hz), loudness [B, k] (dB) → audio [B, k · hop]."""
        if f0_hz.dim() != 2 or f0_hz.shape != loudness_db.shape or f0_hz.shape[1] < 1:
            raise ValueError("f0 and loudness must both be [batch, frames] with frames >= 1")
        b, k = f0_hz.shape
        if b != self.batch:
            if not self.fresh:
                raise ValueError("batch size changed mid-stream: call reset() first")
            self._reset(b)
        f0 = f0_hz.detach().to(torch.float32).contiguous()
        ld = loudness_db.detach().to(torch.float32).contiguous()
        out = torch.empty(b, k * self.hop)
        code = self._lib.ddx7s_process(self._handle, f0.data_ptr(), ld.data_ptr(), b, k, out.data_ptr())
        if code == 1:
            raise ValueError("f0 must be positive (Hz), not NaN: give unvoiced frames the last voiced pitch")
        if code == 2:
            raise ValueError("f0 or loudness contains NaN or infinite values")
        if code != 0:
            raise RuntimeError(f"native streamer failed (code {code})")
        self.fresh = False
        return out

    __call__ = process
