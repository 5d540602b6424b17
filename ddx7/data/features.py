"""Frame-level control features: f0 (three extractors) and A-weighted loudness.

Both features use *centred* frames: frame ``i`` describes the audio around sample
``i * hop`` and a signal of ``n`` samples has exactly ``n // hop`` frames (64000 samples at
hop 64 -> 1000 frames). f0 and loudness are therefore aligned frame for frame, and a
synthesiser that upsamples controls to the sample rate puts frame ``i`` at sample ``i * hop``.
(The DDX7 reference code pads the end instead, so its frames start at ``i * hop``; with a
2048-point loudness window and a 1024-point CREPE window its two features are then offset by
512 samples from each other. We centre both.)

Public API, used by data building, training, evaluation and resynthesis::

    loudness_db(audio, sr=16000, hop=64, n_fft=2048) -> np.ndarray [..., frames]
    extract_f0(audio, method="tiny", sr=16000, hop=64) -> (f0_hz, periodicity), each [..., frames]

f0 methods (``F0_METHODS``):

* ``"full"``  torchcrepe full model, Viterbi decoding, fmin 50, fmax 2000, hop 64: the paper's.
  Decoding follows the original ``crepe`` package (Viterbi path, then the weighted average of
  the bins around it: :func:`weighted_viterbi`), not torchcrepe's bin-quantised ``viterbi``.
  About 66 s per 4 s excerpt on a 2-core CPU.
* ``"tiny"``  torchcrepe tiny model, same settings: ~1.6 s per excerpt.
* ``"pyin"``  librosa.pyin (frame 1024), Viterbi-smoothed probabilistic YIN. Unvoiced frames keep
  pyin's best f0 guess (``fill_na=None``) so f0 is defined everywhere, like CREPE's.

Periodicity: for CREPE it is the network's confidence in the decoded pitch bin (torchcrepe's
``periodicity``, what the paper thresholds); for pyin it is the voicing probability. Both lie in
[0, 1]; the excerpt filter (mean < 0.80 flute / 0.85 others -> dropped) applies to either.

``analysis_hop`` (a multiple of ``hop``) runs the extractor on a coarser grid and interpolates
f0 (in cents) and periodicity back to ``hop``: 4x fewer network frames for ``analysis_hop=256``.
"""

from __future__ import annotations

import sys
import types
from functools import lru_cache

import numpy as np

from .. import HOP, SAMPLE_RATE

F0_METHODS = ("full", "tiny", "pyin")
FMIN = 50.0
FMAX = 2000.0
LOUDNESS_N_FFT = 2048
REF_DB = 20.7
RANGE_DB = 80.0


def _as_numpy(audio) -> np.ndarray:
    if hasattr(audio, "detach"):  # torch tensor
        audio = audio.detach().cpu().numpy()
    return np.asarray(audio, dtype=np.float32)


def n_frames(n_samples: int, hop: int = HOP) -> int:
    """Number of control frames for ``n_samples`` of audio (floor division)."""
    return int(n_samples) // int(hop)


@lru_cache(maxsize=8)
def _a_weighting(sr: int, n_fft: int) -> np.ndarray:
    import librosa

    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    with np.errstate(divide="ignore"):  # the DC bin: -inf, floored later
        return librosa.A_weighting(freqs).astype(np.float32)


def loudness_db(
    audio,
    sr: int = SAMPLE_RATE,
    hop: int = HOP,
    n_fft: int = LOUDNESS_N_FFT,
    ref_db: float = REF_DB,
    range_db: float = RANGE_DB,
) -> np.ndarray:
    """A-weighted loudness in dB per frame (DDSP / DDX7 definition).

    |STFT| (Hann, ``n_fft`` points, centred frames, zero padding at the edges) -> 20 log10 ->
    + A-weighting per bin -> - ``ref_db`` -> floored at ``-range_db`` -> mean over bins.
    ``audio``: [..., samples] numpy array or torch tensor; returns float32 [..., samples // hop].
    A full-scale white noise reads about 0 dB; silence reads ``-range_db``.
    """
    import librosa

    x = _as_numpy(audio)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    frames = n_frames(x2.shape[-1], hop)
    out = np.empty((x2.shape[0], frames), np.float32)
    aw = _a_weighting(int(sr), int(n_fft))[:, None]
    for i, row in enumerate(x2):
        spec = librosa.stft(row, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant")
        amp = np.abs(spec[:, :frames])
        db = 20.0 * np.log10(np.maximum(amp, 1e-20)) + aw - ref_db
        out[i] = np.maximum(db, -range_db).mean(axis=0)
    return out.reshape(*lead, frames)


# --------------------------------------------------------------------------------------- f0


def import_torchcrepe():
    """Import torchcrepe 0.0.24 without torchaudio (only its audio loader needs it)."""
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    import torchcrepe

    return torchcrepe


def weighted_viterbi(probabilities):
    """CREPE's Viterbi decoding as the original ``crepe`` package does it: the Viterbi path over
    the 360 pitch bins, then the salience-weighted mean of the cents of the 9 bins around the path
    in each frame. (torchcrepe 0.0.24's ``decode.viterbi`` stops at the path, which quantises f0
    to the 20-cent bins and flattens shallow vibrato.) Returns (bins, f0 Hz) like torchcrepe's
    decoders, so periodicity is still read at the path's bin."""
    import torch

    tc = import_torchcrepe()
    bins, _ = tc.decode.viterbi(probabilities.clone())
    p = torch.nan_to_num(probabilities, neginf=0.0).clamp_min(0.0)  # [batch, 360, time]
    k = torch.arange(p.shape[1], device=p.device)[None, :, None]
    window = (k - bins[:, None, :]).abs() <= 4
    w = p * window
    cents = tc.convert.bins_to_cents(torch.arange(p.shape[1], device=p.device)).float()
    total = w.sum(dim=1)
    local = (w * cents[None, :, None]).sum(dim=1) / total.clamp_min(1e-12)
    path_cents = cents[bins]
    local = torch.where(total > 1e-9, local, path_cents)
    return bins, tc.convert.cents_to_frequency(local)


def _crepe(x: np.ndarray, sr: int, hop: int, model: str, fmin: float, fmax: float,
           batch_size: int):
    import torch

    tc = import_torchcrepe()
    with torch.inference_mode():
        f0, per = tc.predict(
            torch.from_numpy(np.ascontiguousarray(x))[None],
            sr,
            hop,
            fmin,
            fmax,
            model,
            decoder=weighted_viterbi,
            return_periodicity=True,
            batch_size=batch_size,
            device="cpu",
            pad=True,
        )
    return f0[0].numpy().astype(np.float32), per[0].numpy().astype(np.float32)


def _pyin(x: np.ndarray, sr: int, hop: int, fmin: float, fmax: float):
    import librosa

    f0, _voiced, prob = librosa.pyin(
        x, fmin=fmin, fmax=fmax, sr=sr, frame_length=1024, hop_length=hop,
        center=True, fill_na=None,
    )
    return f0.astype(np.float32), prob.astype(np.float32)


def _upsample(values: np.ndarray, factor: int, frames: int, log: bool) -> np.ndarray:
    """Coarse centred frames (every ``factor`` fine frames) -> ``frames`` fine frames."""
    coarse_t = np.arange(len(values)) * factor
    fine_t = np.arange(frames)
    v = np.log2(np.maximum(values, 1e-3)) if log else values
    out = np.interp(fine_t, coarse_t, v)
    return (2.0 ** out if log else out).astype(np.float32)


def extract_f0(
    audio,
    method: str = "tiny",
    sr: int = SAMPLE_RATE,
    hop: int = HOP,
    fmin: float = FMIN,
    fmax: float = FMAX,
    analysis_hop: int | None = None,
    batch_size: int = 2048,
):
    """f0 in Hz and periodicity in [0, 1] per centred frame.

    ``audio``: [samples] or [batch, samples] (numpy or torch, at ``sr``).
    ``method``: "full" (paper's CREPE), "tiny" (CREPE tiny) or "pyin".
    Returns ``(f0_hz, periodicity)`` float32 arrays of shape [..., samples // hop]; f0 is defined
    (> 0) on every frame, unvoiced frames have low periodicity.
    """
    if method not in F0_METHODS:
        raise ValueError(f"unknown f0 method {method!r}; choose one of {F0_METHODS}")
    x = _as_numpy(audio)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    frames = n_frames(x2.shape[-1], hop)
    ahop = int(analysis_hop or hop)
    if ahop % hop:
        raise ValueError(f"analysis_hop {ahop} must be a multiple of hop {hop}")
    factor = ahop // hop
    f0_out = np.empty((x2.shape[0], frames), np.float32)
    per_out = np.empty((x2.shape[0], frames), np.float32)
    for i, row in enumerate(x2):
        if method == "pyin":
            f0, per = _pyin(row, sr, ahop, fmin, fmax)
        else:
            f0, per = _crepe(row, sr, ahop, method, fmin, fmax, batch_size)
        if factor > 1:
            f0 = _upsample(f0, factor, frames, log=True)
            per = _upsample(per, factor, frames, log=False)
        f0_out[i] = f0[:frames]
        per_out[i] = np.clip(per[:frames], 0.0, 1.0)
    return f0_out.reshape(*lead, frames), per_out.reshape(*lead, frames)


def extractor_settings(method: str, analysis_hop: int | None = None, hop: int = HOP) -> dict:
    """The settings recorded in the manifest for an f0 extractor."""
    d = {"method": method, "hop": hop, "analysis_hop": int(analysis_hop or hop),
         "fmin": FMIN, "fmax": FMAX, "sample_rate": SAMPLE_RATE, "frames": "centred"}
    if method in ("full", "tiny"):
        d.update(implementation="torchcrepe==0.0.24", model=method,
                 decoder="viterbi path + local weighted average (as crepe's viterbi=True)",
                 periodicity="crepe confidence")
    else:
        d.update(implementation="librosa.pyin", frame_length=1024, fill_na=None,
                 periodicity="pyin voiced probability")
    return d


def loudness_settings() -> dict:
    return {"n_fft": LOUDNESS_N_FFT, "hop": HOP, "ref_db": REF_DB, "range_db": RANGE_DB,
            "weighting": "A", "frames": "centred"}


# -------------------------------------------------------------------------- pitch metrics


def cents(f_est, f_ref) -> np.ndarray:
    """1200 log2(f_est / f_ref)."""
    return 1200.0 * np.log2(np.maximum(f_est, 1e-6) / np.maximum(f_ref, 1e-6))


def pitch_metrics(f0_est: np.ndarray, f0_true: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Raw pitch accuracy (|error| <= 50 cents) and median |cents error| on voiced frames.

    Voiced frames are those with ``f0_true > 0`` (and ``mask`` when given). Also the accuracy
    ignoring octave errors (``rca``, raw chroma accuracy).
    """
    voiced = f0_true > 0
    if mask is not None:
        voiced &= mask.astype(bool)
    n = int(voiced.sum())
    if n == 0:
        return {"frames": 0, "rpa": float("nan"), "rca": float("nan"),
                "median_abs_cents": float("nan")}
    c = cents(f0_est[voiced], f0_true[voiced])
    chroma = np.abs((c + 600.0) % 1200.0 - 600.0)
    return {
        "frames": n,
        "rpa": float(np.mean(np.abs(c) <= 50.0)),
        "rca": float(np.mean(chroma <= 50.0)),
        "median_abs_cents": float(np.median(np.abs(c))),
    }
