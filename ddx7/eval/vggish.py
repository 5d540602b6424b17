"""VGGish (Hershey et al. 2017), the embedding of the Fréchet Audio Distance (Kilgour et al. 2019).

Our own PyTorch implementation of the network and of its log-mel front end. No weights ship
with it and nothing is downloaded: the user supplies a weights file (``--vggish-weights PATH``)
with the key naming of the common PyTorch port (harritaylor/torchvggish):

* convolutions ``features.{0,3,6,8,11,13}.weight/bias`` (64, 128, 256, 256, 512, 512 channels,
  3×3, a ReLU after each, 2×2 max-pooling after the 1st, 2nd, 4th and 6th);
* fully connected ``embeddings.{0,2,4}.weight/bias`` (12288 → 4096 → 4096 → 128, ReLU between);
* optionally the AudioSet PCA parameters ``pca_eigen_vectors`` [128, 128] and ``pca_means``
  [128] or [128, 1] (also accepted as ``pproc.pca_matrix`` / ``pproc.pca_means``).

Front end (as in the reference ``vggish_input``): 16 kHz mono, 25 ms periodic-Hann STFT frames
every 10 ms (FFT 512, magnitude), 64 HTK-mel bands 125–7500 Hz, log(mel + 0.01), examples of
96 frames (0.96 s) every 0.96 s. The example [96, 64] is fed as an image [1, 96, 64]; the conv
output [512, 6, 4] is flattened in (H, W, C) order, as the TensorFlow original does.

FAD convention: the 128-d output of the last fully connected layer *before* its ReLU and
without PCA (what Google's FAD and the ``frechet_audio_distance`` package use). ``final_relu``
and ``postprocess`` switch to the port's defaults (ReLU; PCA + 8-bit quantisation).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
STFT_WINDOW_SECONDS = 0.025
STFT_HOP_SECONDS = 0.010
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames
EXAMPLE_HOP_FRAMES = 96
EMBEDDING_SIZE = 128
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0

# Conv layers of the port: (index in `features`, in channels, out channels); a 2×2 max-pool
# follows the layers marked True.
_CONVS = [(0, 1, 64, True), (3, 64, 128, True), (6, 128, 256, False), (8, 256, 256, True),
          (11, 256, 512, False), (13, 512, 512, True)]
_FCS = [(0, 512 * 4 * 6, 4096), (2, 4096, 4096), (4, 4096, EMBEDDING_SIZE)]

PCA_KEYS = {
    "pca_eigen_vectors": ("pca_eigen_vectors", "pproc.pca_matrix", "pproc.pca_eigen_vectors"),
    "pca_means": ("pca_means", "pproc.pca_means"),
}


def port_shapes() -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the PyTorch port's state_dict (without PCA)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i, cin, cout, _ in _CONVS:
        shapes[f"features.{i}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{i}.bias"] = (cout,)
    for i, fin, fout in _FCS:
        shapes[f"embeddings.{i}.weight"] = (fout, fin)
        shapes[f"embeddings.{i}.bias"] = (fout,)
    return shapes


# ----------------------------------------------------------------------------- front end
def _hz_to_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(num_spectrogram_bins: int = 257, sample_rate: int = SAMPLE_RATE,
               num_mel_bins: int = NUM_MEL_BINS, lower_hz: float = MEL_MIN_HZ,
               upper_hz: float = MEL_MAX_HZ) -> np.ndarray:
    """[num_spectrogram_bins, num_mel_bins] triangular weights, triangles drawn on the mel axis
    (peak 1, not area-normalised), DC bin zeroed — VGGish's mel matrix."""
    bins_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_mel_bins + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (bins_mel[:, None] - lo) / (mid - lo)
    down = (hi - bins_mel[:, None]) / (hi - mid)
    w = np.maximum(0.0, np.minimum(up, down))
    w[0, :] = 0.0
    return w


def log_mel(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[frames, 64] VGGish log-mel spectrogram of mono audio at 16 kHz (no padding)."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"VGGish front end expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    x = np.asarray(x, dtype=np.float64)
    win = int(round(SAMPLE_RATE * STFT_WINDOW_SECONDS))
    hop = int(round(SAMPLE_RATE * STFT_HOP_SECONDS))
    n_fft = 2 ** int(np.ceil(np.log2(win)))
    if len(x) < win:
        return np.zeros((0, NUM_MEL_BINS))
    n_frames = 1 + (len(x) - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    mag = np.abs(np.fft.rfft(frames * window, n_fft))
    mel = mag @ mel_matrix(n_fft // 2 + 1)
    return np.log(mel + LOG_OFFSET)


def waveform_to_examples(x: np.ndarray, sample_rate: int = SAMPLE_RATE,
                         pad_short: bool = True) -> np.ndarray:
    """[n_examples, 96, 64] log-mel examples (0.96 s each, no overlap; the tail is dropped).

    A clip shorter than one example gives zero examples in the reference code; with
    ``pad_short`` it is zero-padded to one example so every clip counts.
    """
    x = np.asarray(x, dtype=np.float64)
    min_len = int(round(SAMPLE_RATE * (STFT_WINDOW_SECONDS + (EXAMPLE_FRAMES - 1) * STFT_HOP_SECONDS)))
    if pad_short and len(x) < min_len:
        x = np.pad(x, (0, min_len - len(x)))
    lm = log_mel(x, sample_rate)
    if len(lm) < EXAMPLE_FRAMES:
        return np.zeros((0, EXAMPLE_FRAMES, NUM_MEL_BINS), dtype=np.float32)
    n = 1 + (len(lm) - EXAMPLE_FRAMES) // EXAMPLE_HOP_FRAMES
    ex = np.stack([lm[i * EXAMPLE_HOP_FRAMES:i * EXAMPLE_HOP_FRAMES + EXAMPLE_FRAMES] for i in range(n)])
    return ex.astype(np.float32)


# ----------------------------------------------------------------------------- network
class VGGish(nn.Module):
    """VGGish network with the port's module layout (`features`, `embeddings`)."""

    def __init__(self, final_relu: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        for i, cin, cout, pool in _CONVS:
            assert len(layers) == i
            layers += [nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_SIZE), nn.ReLU(inplace=True))
        self.final_relu = final_relu
        self.register_buffer("pca_eigen_vectors", torch.zeros(0))
        self.register_buffer("pca_means", torch.zeros(0))

    @property
    def has_pca(self) -> bool:
        return self.pca_eigen_vectors.numel() > 0

    def forward(self, examples: torch.Tensor, postprocess: bool = False) -> torch.Tensor:
        """examples [N, 96, 64] or [N, 1, 96, 64] → [N, 128]."""
        if examples.dim() == 3:
            examples = examples.unsqueeze(1)
        x = self.features(examples)                    # [N, 512, 6, 4]
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (H, W, C) order like TF
        n_layers = len(self.embeddings) if self.final_relu else len(self.embeddings) - 1
        for layer in list(self.embeddings)[:n_layers]:
            x = layer(x)
        if postprocess:
            x = self.postprocess(x)
        return x

    def postprocess(self, emb: torch.Tensor) -> torch.Tensor:
        """AudioSet PCA/whitening, clipping to [-2, 2] and 8-bit quantisation (values 0..255)."""
        if not self.has_pca:
            raise VGGishWeightsError("VGGish postprocessing needs PCA parameters "
                                     "(pca_eigen_vectors, pca_means) in the weights file")
        pca = torch.mm(self.pca_eigen_vectors, emb.T - self.pca_means.reshape(-1, 1)).T
        pca = pca.clamp(QUANTIZE_MIN, QUANTIZE_MAX)
        return torch.round((pca - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))


class VGGishWeightsError(ValueError):
    """Missing, unreadable or incompatible VGGish weights."""


NO_WEIGHTS_MESSAGE = (
    "VGGish weights must be supplied (--vggish-weights PATH, or vggish_weights=PATH, or the "
    "DDX7_VGGISH_WEIGHTS environment variable): nothing is downloaded here. Use a state_dict "
    "of the PyTorch port (harritaylor/torchvggish, e.g. vggish-10086976.pth), or pick another "
    "embedding (aisfx, mfcc).")

_EXPECTED_NAMING = ("expected the key naming of the PyTorch port (harritaylor/torchvggish): "
                    "features.N.weight/bias (N = 0, 3, 6, 8, 11, 13), embeddings.N.weight/bias "
                    "(N = 0, 2, 4), optional pca_eigen_vectors / pca_means")


def _load_file(path: Path) -> Mapping:
    """Read a state_dict from .pth/.pt (torch, safe unpickling) or .npz; no code execution."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Files saved with numpy arrays inside (the port's PCA file): allow numpy's array
        # reconstruction, still without arbitrary code.
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct
        safe = [np.ndarray, np.dtype, _reconstruct]
        safe += [type(np.dtype(t)) for t in ("f4", "f8", "i4", "i8", "u1")]
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)


def read_vggish_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read and validate a VGGish weights file; returns the state_dict in our naming.

    Raises VGGishWeightsError naming the file and the missing / unexpected / mis-shaped keys.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise VGGishWeightsError(f"VGGish weights file {path} does not exist. " + NO_WEIGHTS_MESSAGE)
    try:
        raw = _load_file(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            zipfile.BadZipFile, AttributeError, ImportError) as e:
        raise VGGishWeightsError(
            f"VGGish weights file {path} could not be read as a PyTorch state_dict "
            f"(.pth/.pt) or .npz: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    if isinstance(raw, Mapping) and "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise VGGishWeightsError(f"VGGish weights file {path} holds a {type(raw).__name__}, "
                                 f"not a state_dict; {_EXPECTED_NAMING}")
    return validate_vggish_state_dict(raw, source=str(path))


def validate_vggish_state_dict(raw: Mapping, source: str = "<state_dict>") -> dict[str, torch.Tensor]:
    """Check key names and shapes against the port; map the optional PCA keys."""
    sd = {}
    for k, v in raw.items():
        k = str(k)
        if k.startswith("module."):
            k = k[len("module."):]
        try:
            sd[k] = torch.as_tensor(np.asarray(v) if not torch.is_tensor(v) else v).float()
        except (TypeError, ValueError):
            sd[k] = v
    expected = port_shapes()
    out: dict[str, torch.Tensor] = {}
    missing = [k for k in expected if k not in sd]
    bad = []
    for k, shape in expected.items():
        if k in sd:
            got = tuple(sd[k].shape) if torch.is_tensor(sd[k]) else type(sd[k]).__name__
            if got != shape:
                bad.append(f"{k}: expected {shape}, got {got}")
            else:
                out[k] = sd[k]
    used = set(expected)
    for ours, names in PCA_KEYS.items():
        for name in names:
            if name in sd:
                used.add(name)
                t = sd[name]
                want = (EMBEDDING_SIZE, EMBEDDING_SIZE) if ours == "pca_eigen_vectors" else (EMBEDDING_SIZE,)
                t = t.reshape(-1) if ours == "pca_means" and t.numel() == EMBEDDING_SIZE else t
                if tuple(t.shape) != want:
                    bad.append(f"{name}: expected {want}, got {tuple(t.shape)}")
                else:
                    out[ours] = t
                break
    if ("pca_eigen_vectors" in out) != ("pca_means" in out):
        bad.append("PCA parameters incomplete: need both pca_eigen_vectors and pca_means")
    unexpected = sorted(k for k in sd if k not in used)
    if missing or bad or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if bad:
            parts.append(f"mismatched {bad}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}")
        raise VGGishWeightsError(f"VGGish weights {source} do not fit: " + "; ".join(parts)
                                 + f". {_EXPECTED_NAMING}.")
    return out


def build_vggish(state_dict: Mapping | None = None, final_relu: bool = False,
                 seed: int | None = None) -> VGGish:
    """A VGGish in eval mode: weights from a validated state_dict, or random (seeded) weights."""
    if state_dict is None:
        gen_state = torch.random.get_rng_state()
        if seed is not None:
            torch.manual_seed(seed)
        try:
            model = VGGish(final_relu=final_relu)
        finally:
            torch.random.set_rng_state(gen_state)
    else:
        model = VGGish(final_relu=final_relu)
        sd = dict(state_dict)
        if "pca_eigen_vectors" in sd:
            model.pca_eigen_vectors = sd.pop("pca_eigen_vectors").float()
            model.pca_means = sd.pop("pca_means").float()
        model.load_state_dict(sd, strict=False)
    return model.eval()
