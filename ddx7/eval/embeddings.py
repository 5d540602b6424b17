"""Audio embeddings for the Fréchet Audio Distance, all offline.

``get_embedding(name, **kwargs)`` returns an object with ``.name`` (written next to every FAD
value), ``.sample_rate`` (the model's own rate), ``.dim`` and ``.embed(clips, sample_rate=16000)
-> np.ndarray [M, D]`` (M = embedding frames over all clips; audio is resampled inside).

Registered embeddings:

* ``aisfx`` (default) — the sound-effects model of Ma & Lerch (ISMIR 2022), PyPI ``aisfx==0.1.2``
  (install with ``--no-deps``; CC BY 4.0 weights inside the wheel). 44.1 kHz, 96-band log-mel,
  blocks of 100 frames (2.32 s) every 50 frames (its ``main``'s default hop 0.5), 512-d.
  Trained on sound-effects libraries, not music: its name says so.
* ``vggish`` — our PyTorch VGGish (``ddx7.eval.vggish``), the paper's embedding, with weights
  the user supplies (``vggish_weights=PATH``); 0.96 s examples, 128-d.
* ``mfcc`` (alias ``mfcc-stats``) — deterministic MFCC statistics: per 1 s window (hop 0.5 s)
  the mean and std of 20 MFCCs and of their deltas, 80-d. Cheap fallback, no model.
"""

from __future__ import annotations

import functools
import os
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

DEFAULT_EMBEDDING = "aisfx"
INPUT_SAMPLE_RATE = 16000
AISFX_VERSION = "0.1.2"


# ----------------------------------------------------------------------------- helpers
def as_clip_list(audio) -> list[np.ndarray]:
    """Clips as a list of 1-D float32 arrays: accepts one 1-D clip, a 2-D [N, T] batch, or a
    sequence of 1-D arrays / tensors of any lengths."""
    try:
        import torch
        is_tensor = torch.is_tensor
    except ImportError:  # pragma: no cover
        def is_tensor(_):
            return False

    def to_np(x):
        if is_tensor(x):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float32)

    if is_tensor(audio) or isinstance(audio, np.ndarray):
        arr = to_np(audio)
        if arr.ndim == 1:
            clips = [arr]
        elif arr.ndim == 2:
            clips = list(arr)
        else:
            raise ValueError(f"audio must be mono: 1-D clip or 2-D [clips, samples], got shape {arr.shape}")
    else:
        clips = [to_np(c) for c in audio]
    if not clips:
        raise ValueError("no audio clips given")
    for i, c in enumerate(clips):
        if c.ndim != 1:
            raise ValueError(f"clip {i}: expected mono 1-D audio, got shape {c.shape}")
        if c.size == 0:
            raise ValueError(f"clip {i} is empty")
        if not np.isfinite(c).all():
            raise ValueError(f"clip {i} contains NaN or inf")
    return clips


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling with soxr (HQ); identity when the rates agree."""
    if int(sr_in) == int(sr_out):
        return np.asarray(x, dtype=np.float32)
    import soxr
    return soxr.resample(np.asarray(x, dtype=np.float32), int(sr_in), int(sr_out), quality="HQ")


class Embedding:
    """Base class: subclasses set name, sample_rate, dim and implement ``embed_clip``."""

    name: str = "embedding"
    sample_rate: int = INPUT_SAMPLE_RATE
    dim: int = 0

    def embed_clip(self, x: np.ndarray) -> np.ndarray:
        """[m, dim] embeddings of one mono clip at ``self.sample_rate``."""
        raise NotImplementedError

    def embed_clips(self, audio, sample_rate: int = INPUT_SAMPLE_RATE) -> list[np.ndarray]:
        """One [m_i, dim] array per clip."""
        return [np.asarray(self.embed_clip(resample(c, sample_rate, self.sample_rate)), dtype=np.float64)
                for c in as_clip_list(audio)]

    def embed(self, audio, sample_rate: int = INPUT_SAMPLE_RATE) -> np.ndarray:
        """[M, dim] embeddings of all clips (audio at ``sample_rate``, default 16 kHz)."""
        return np.concatenate(self.embed_clips(audio, sample_rate), axis=0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} sr={self.sample_rate} dim={self.dim}>"


class _BatchedTorchEmbedding(Embedding):
    """Embeddings whose model runs on stacked input blocks: batch blocks of all clips."""

    batch_size = 32
    device = "cpu"

    def blocks(self, x: np.ndarray) -> np.ndarray:  # [n_blocks, ...] model input for one clip
        raise NotImplementedError

    def forward(self, batch):  # torch tensor → torch tensor [n, dim]
        raise NotImplementedError

    def embed_clip(self, x):
        return self.embed_clips([x], self.sample_rate)[0]

    def embed_clips(self, audio, sample_rate: int = INPUT_SAMPLE_RATE) -> list[np.ndarray]:
        import torch
        per_clip = [self.blocks(resample(c, sample_rate, self.sample_rate)) for c in as_clip_list(audio)]
        counts = [len(b) for b in per_clip]
        allb = np.concatenate(per_clip, axis=0)
        outs = []
        with torch.inference_mode():
            for i in range(0, len(allb), self.batch_size):
                batch = torch.as_tensor(allb[i:i + self.batch_size], dtype=torch.float32, device=self.device)
                outs.append(self.forward(batch).float().cpu().numpy())
        emb = np.concatenate(outs, axis=0).astype(np.float64) if outs else np.zeros((0, self.dim))
        return np.split(emb, np.cumsum(counts)[:-1])


# ----------------------------------------------------------------------------- MFCC statistics
class MFCCStatsEmbedding(Embedding):
    """Mean and std of 20 MFCCs and their deltas per window (default 1 s, hop 0.5 s): 80-d."""

    def __init__(self, n_mfcc: int = 20, window_s: float = 1.0, hop_s: float = 0.5,
                 n_fft: int = 1024, hop_length: int = 256, n_mels: int = 64):
        self.n_mfcc, self.window_s, self.hop_s = n_mfcc, window_s, hop_s
        self.n_fft, self.hop_length, self.n_mels = n_fft, hop_length, n_mels
        self.sample_rate = INPUT_SAMPLE_RATE
        self.dim = 4 * n_mfcc
        self.name = f"mfcc-stats ({n_mfcc} MFCC + delta, mean/std per {window_s:g} s window)"

    def embed_clip(self, x):
        import librosa
        win = int(round(self.window_s * self.sample_rate))
        if len(x) < win:
            x = np.pad(x, (0, win - len(x)))
        m = librosa.feature.mfcc(y=np.asarray(x, dtype=np.float32), sr=self.sample_rate,
                                 n_mfcc=self.n_mfcc, n_fft=self.n_fft, hop_length=self.hop_length,
                                 n_mels=self.n_mels, fmin=0.0, fmax=self.sample_rate / 2)
        d = librosa.feature.delta(m, width=9, mode="interp")
        feats = np.concatenate([m, d], axis=0)            # [2*n_mfcc, frames]
        wf = max(1, int(round(self.window_s * self.sample_rate / self.hop_length)))
        hf = max(1, int(round(self.hop_s * self.sample_rate / self.hop_length)))
        n = feats.shape[1]
        starts = list(range(0, max(n - wf, 0) + 1, hf))
        out = []
        for s in starts:
            seg = feats[:, s:s + wf]
            mu, sd = seg.mean(axis=1), seg.std(axis=1)
            out.append(np.concatenate([mu[:self.n_mfcc], sd[:self.n_mfcc], mu[self.n_mfcc:], sd[self.n_mfcc:]]))
        return np.stack(out)


# ----------------------------------------------------------------------------- aisfx
AISFX_INSTALL_HINT = (f"pip install --no-deps aisfx=={AISFX_VERSION} (its real needs — torch, numpy, "
                      "librosa, tqdm — are ddx7 dependencies), or use embedding 'mfcc'")


def aisfx_available() -> bool:
    try:
        import aisfx.inference  # noqa: F401
        return True
    except ImportError:
        return False


def _aisfx_pickle_globals() -> list:
    """The numpy globals of aisfx's weight file, as torch's weights-only unpickler must name them."""
    import numpy as np
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover (numpy 1.x)
        from numpy.core.multiarray import scalar
    return [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]


@functools.lru_cache(maxsize=None)
def _load_aisfx_model(device: str = "cpu"):
    """The aisfx CrossNet with its packaged weights, loaded once per process and device."""
    import torch
    try:
        import aisfx.inference as inf
    except ImportError as e:
        raise ImportError(f"the aisfx embedding needs the aisfx package: {AISFX_INSTALL_HINT}") from e
    # The checkpoint is (state_dict, ds_dict) and ds_dict holds numpy int64 scalars. Loading stays
    # weights-only (no pickle callables run, even from the installed wheel's file); only what those
    # scalars need is allowed: the scalar constructor (pickled under its numpy 1.x name), numpy.dtype
    # and the int64 dtype class.
    with torch.serialization.safe_globals(_aisfx_pickle_globals()):
        weights, ds_dict = torch.load(inf.get_path_modelWeights(), map_location="cpu", weights_only=True)
    model = inf.load_bestModel(weights, ds_dict, device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class AisfxEmbedding(_BatchedTorchEmbedding):
    """aisfx 0.1.2 sound-effects embedding (512-d per 2.32 s block, hop ``hop`` × block)."""

    def __init__(self, device: str = "cpu", hop: float = 0.5, drop_partial_block: bool = True,
                 batch_size: int = 16):
        try:
            import aisfx.inference as inf
            from aisfx import preprocessing
        except ImportError as e:
            raise ImportError(f"the aisfx embedding needs the aisfx package: {AISFX_INSTALL_HINT}") from e
        try:
            version = metadata.version("aisfx")
        except metadata.PackageNotFoundError:  # pragma: no cover
            version = "?"
        self._inf, self._pre = inf, preprocessing
        self.device, self.hop, self.drop_partial_block = device, hop, drop_partial_block
        self.batch_size = batch_size
        self.sample_rate = int(inf.SAMPLE_RATE)
        self.dim = 512
        self.name = f"aisfx-{version} (sound-effects model)"
        if hop != 0.5 or not drop_partial_block:
            self.name = self.name[:-1] + f"; hop {hop:g} block{'' if drop_partial_block else ', partial blocks kept'})"
        self.model = _load_aisfx_model(device)

    def spectrogram(self, x: np.ndarray) -> np.ndarray:
        """[frames, 96] normalised log-mel, as aisfx's librosa helper computes it (peak-normalised
        audio, 2048/1024 STFT, 96 HTK-mel bands 0–22.05 kHz, log10(1 + 1e4·mel), 'original' norm)."""
        import librosa
        inf = self._inf
        x = np.asarray(x, dtype=np.float32)
        peak = float(np.max(np.abs(x)))
        x = x / (peak if peak > 0 else 1.0)
        mel = librosa.feature.melspectrogram(
            y=x, sr=self.sample_rate, n_fft=inf.SPEC_BLOCK_LENGTH, win_length=inf.SPEC_BLOCK_LENGTH,
            hop_length=inf.SPEC_HOP_LENGTH, n_mels=inf.MEL_BINS, fmin=inf.F_MIN, fmax=inf.F_MAX,
            norm=1.0, htk=True, power=2.0)
        spec = np.log10(mel * 10000.0 + 1).T
        return self._pre.spectrogram_normalize(spec, spec_norm="original")

    def blocks(self, x):
        spec = self.spectrogram(x)
        n = self._inf.EMB_BLOCK_LENGTH
        hop = max(1, int(round(n * self.hop)))
        if spec.shape[0] <= hop:  # aisfx's compute_hopSize asserts hop < frames: pad short clips
            spec = np.vstack([spec, np.zeros((hop + 1 - spec.shape[0], spec.shape[1]))])
        return self._pre.blocking(spec, block_size=n, hop_size=hop,
                                  drop_partial_block=self.drop_partial_block).astype(np.float32)

    def forward(self, batch):
        return self.model.get_embedding(batch)


# ----------------------------------------------------------------------------- VGGish
@functools.lru_cache(maxsize=4)
def _load_vggish(path: str, mtime: float, size: int, final_relu: bool):
    """(model, sha256 prefix of the file), once per file version and process."""
    import hashlib

    from . import vggish
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    model = vggish.build_vggish(vggish.read_vggish_state_dict(path), final_relu=final_relu)
    return model, h.hexdigest()[:12]


class VGGishEmbedding(_BatchedTorchEmbedding):
    """Our VGGish with user-supplied weights (128-d per 0.96 s; pre-ReLU, no PCA by default)."""

    def __init__(self, vggish_weights: str | os.PathLike | None = None, device: str = "cpu",
                 final_relu: bool = False, postprocess: bool = False, random_init: bool = False,
                 seed: int = 0, batch_size: int = 32):
        from . import vggish
        self._v = vggish
        self.device, self.postprocess, self.batch_size = device, postprocess, batch_size
        self.sample_rate, self.dim = vggish.SAMPLE_RATE, vggish.EMBEDDING_SIZE
        if vggish_weights is None and not random_init:
            vggish_weights = os.environ.get("DDX7_VGGISH_WEIGHTS") or None
        if random_init:
            model = vggish.build_vggish(None, final_relu=final_relu, seed=seed)
            self.name = f"vggish (random weights, seed {seed}: for tests only)"
        elif vggish_weights is None:
            raise vggish.VGGishWeightsError(vggish.NO_WEIGHTS_MESSAGE)
        else:
            p = Path(vggish_weights).expanduser()
            if not p.is_file():
                raise vggish.VGGishWeightsError(
                    f"VGGish weights file {p} does not exist. " + vggish.NO_WEIGHTS_MESSAGE)
            st = p.stat()
            model, digest = _load_vggish(str(p.resolve()), st.st_mtime, st.st_size, final_relu)
            self.name = f"vggish (weights {p.name}, sha256 {digest})"
        if postprocess and not model.has_pca:
            raise vggish.VGGishWeightsError(
                f"postprocess=True needs pca_eigen_vectors / pca_means in {vggish_weights}")
        tags = (["final ReLU"] if final_relu else []) + (["PCA+quantised"] if postprocess else [])
        if tags:
            self.name = self.name[:-1] + "; " + ", ".join(tags) + ")"
        self.model = model.to(device)

    def blocks(self, x):
        return self._v.waveform_to_examples(x, self.sample_rate)

    def forward(self, batch):
        return self.model(batch, postprocess=self.postprocess)


# ----------------------------------------------------------------------------- registry
_REGISTRY: dict[str, Callable[..., Embedding]] = {}
_ALIASES: dict[str, str] = {}


def register_embedding(name: str, factory: Callable[..., Embedding], aliases: Iterable[str] = ()) -> None:
    """Register a factory ``factory(**kwargs) -> Embedding`` under ``name`` (and aliases)."""
    _REGISTRY[name] = factory
    for a in aliases:
        _ALIASES[a] = name


def available_embeddings() -> list[str]:
    return sorted(_REGISTRY)


def get_embedding(name: "str | Embedding | None" = None, **kwargs) -> Embedding:
    """Embedding by registry name (default ``aisfx``); an Embedding instance passes through.

    kwargs go to the factory, e.g. ``get_embedding("vggish", vggish_weights="vggish.pth")``.
    """
    if isinstance(name, Embedding):
        if kwargs:
            raise TypeError("keyword arguments given together with an Embedding instance")
        return name
    key = (name or DEFAULT_EMBEDDING).lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise KeyError(f"unknown embedding {name!r}; available: {', '.join(available_embeddings())}")
    return _REGISTRY[key](**kwargs)


register_embedding("aisfx", AisfxEmbedding)
register_embedding("vggish", VGGishEmbedding)
register_embedding("mfcc", MFCCStatsEmbedding, aliases=("mfcc-stats", "mfcc_stats"))
