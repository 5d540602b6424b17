"""Frame-level control features: f0 (three extractors) and A-weighted loudness.

Both features use *centred* frames: frame ``i`` describes the audio around sample
``i * hop`` and a signal of ``n`` samples has exactly ``n // hop`` frames (64000 samples at
hop 64 -> 1000 frames). f0 and loudness are therefore aligned frame for frame, and a
synthesiser that upsamples controls to the sample rate puts frame ``i`` at sample ``i * hop``.
(The DDX7 reference code pads the end instead, so its frames start at ``i * hop``; with a
2048-point loudness window and a 1024-point CREPE window its two features are then offset by
512 samples from each other. We centre both.)

Public API, used by data building, evaluation, resynthesis and streaming::

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
[0, 1]. The excerpt filter drops an excerpt whose mean periodicity is below the paper's threshold
(0.80 flute, 0.85 others) less an offset calibrated per extractor
(:data:`ddx7.data.instruments.PERIODICITY_OFFSET`).

``analysis_hop`` (a multiple of ``hop``) runs the extractor on a coarser grid and interpolates
f0 (in cents) and periodicity back to ``hop``: 4x fewer network frames for ``analysis_hop=256``.
"""

from __future__ import annotations

import math
import sys
import types
from functools import lru_cache

import numpy as np

from .. import FRAME_RATE, HOP, SAMPLE_RATE

F0_METHODS = ("full", "tiny", "pyin")
FMIN = 50.0
FMAX = 2000.0
LOUDNESS_N_FFT = 2048
REF_DB = 20.7
SILENT_ENERGY = 1e-10  # Σ y² of a causal YIN window below this: digital silence, no pitch to read
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
    x = _as_numpy(audio)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    frames = n_frames(x2.shape[-1], hop)
    out = np.empty((x2.shape[0], frames), np.float32)
    half = n_fft // 2
    for i, row in enumerate(x2):
        out[i] = _loudness_frames(np.pad(row, (half, half)), sr, hop, n_fft, ref_db, range_db)[:frames]
    return out.reshape(*lead, frames)


def yin_periodicity(audio, sr: int = SAMPLE_RATE, hop: int = 512, frame: int = 1024, fmin: float = FMIN,
                    fmax: float = FMAX) -> np.ndarray:
    """YIN's periodicity per frame: 1 − min over lags [sr/fmax, sr/fmin] of the cumulative mean
    normalised difference (de Cheveigné & Kawahara 2002, steps 2–3). Near 1 for a pitched sound,
    near 0 for noise and silence. Cheap (two FFTs per frame): a voicing check, not an f0 tracker.
    Frame f covers samples [f·hop, f·hop + frame); returns float32 [frames]."""
    x = _as_numpy(audio).astype(np.float64)
    if x.ndim != 1 or len(x) < frame:
        return np.zeros(0, np.float32)
    w = frame // 2
    max_lag = min(int(sr / fmin), frame - w)
    min_lag = max(1, int(math.ceil(sr / fmax)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    n = 1 << int(math.ceil(math.log2(frame + w)))
    r = np.fft.irfft(np.conj(np.fft.rfft(frames[:, :w], n)) * np.fft.rfft(frames, n), n)[:, :max_lag + 1]
    c = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    lags = np.arange(max_lag + 1)
    energy = c[:, lags + w] - c[:, lags]  # Σ_{j<w} x_{j+τ}²
    d = np.maximum(energy[:, :1] + energy - 2 * r, 0.0)
    running = np.cumsum(d[:, 1:], axis=1)
    cmndf = d[:, 1:] * lags[1:] / np.maximum(running, 1e-12)
    cmndf = np.where(running > 1e-12, cmndf, 1.0)  # an all-zero frame is aperiodic
    best = cmndf[:, min_lag - 1:].min(axis=1)
    return (1.0 - np.clip(best, 0.0, 1.0)).astype(np.float32)


def _loudness_frames(x: np.ndarray, sr: int, hop: int, n_fft: int, ref_db: float = REF_DB,
                     range_db: float = RANGE_DB) -> np.ndarray:
    """Loudness of every ``n_fft`` window of ``x`` that starts at a multiple of ``hop`` (no padding)."""
    import librosa

    spec = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop, center=False))
    db = 20.0 * np.log10(np.maximum(spec, 1e-20)) + _a_weighting(int(sr), int(n_fft))[:, None] - ref_db
    return np.maximum(db, -range_db).mean(axis=0).astype(np.float32)


# --------------------------------------------------------------------------------------- f0


def import_torchcrepe():
    """Import torchcrepe 0.0.24 without torchaudio (only its audio loader needs it)."""
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    import torchcrepe

    return torchcrepe


CREPE_CENTS_OF_BIN0 = 1997.3794084376191  # cents (re 10 Hz) of CREPE's pitch bin 0


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
    # The bins' centres, as tc.convert.bins_to_cents without its random dither (±20 cents drawn from
    # numpy's global RNG, which made the same audio give a different f0 on every extraction).
    cents = (tc.CENTS_PER_BIN * torch.arange(p.shape[1], device=p.device, dtype=torch.float64)
             + CREPE_CENTS_OF_BIN0).float()
    total = w.sum(dim=1)
    local = (w * cents[None, :, None]).sum(dim=1) / total.clamp_min(1e-12)
    path_cents = cents[bins]
    local = torch.where(total > 1e-9, local, path_cents)
    return bins, tc.convert.cents_to_frequency(local)


CREPE_WINDOW = 1024
CREPE_INFER_FRAMES = 256  # frames per forward pass: activations stay ~50 MB (2048 frames: ~350 MB)


def _crepe(x: np.ndarray, sr: int, hop: int, model: str, fmin: float, fmax: float,
           batch_size: int, context: bool = False):
    """torchcrepe.predict(pad=True) with the network run CREPE_INFER_FRAMES frames at a time
    (the frames are independent; the Viterbi decoding still spans ``batch_size`` frames, as in
    predict). ``context``: ``x`` already holds the CREPE_WINDOW / 2 samples around its frames
    (a chunk of a longer recording), instead of zero padding."""
    import torch

    tc = import_torchcrepe()
    audio = torch.from_numpy(np.ascontiguousarray(x))[None]
    if not context:
        audio = torch.nn.functional.pad(audio, (CREPE_WINDOW // 2, CREPE_WINDOW // 2))
    f0s, pers = [], []
    with torch.inference_mode():
        for frames in tc.core.preprocess(audio, sr, hop, batch_size, "cpu", pad=False):
            probabilities = torch.cat([tc.core.infer(frames[i:i + CREPE_INFER_FRAMES], model)
                                       for i in range(0, len(frames), CREPE_INFER_FRAMES)])
            f0, per = tc.core.postprocess(probabilities.reshape(1, -1, tc.PITCH_BINS).transpose(1, 2), fmin, fmax,
                                          weighted_viterbi, return_periodicity=True)
            f0s.append(f0[0])
            pers.append(per[0])
    return torch.cat(f0s).numpy().astype(np.float32), torch.cat(pers).numpy().astype(np.float32)


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


def features_in_chunks(read, n_samples: int, method: str, chunk_frames: int = 16 * 2048, hop: int = HOP,
                       sr: int = SAMPLE_RATE, margin_frames: int = FRAME_RATE, progress=None):
    """(f0_hz, periodicity, loudness_db) of a long recording, ``chunk_frames`` frames at a time:
    memory bounded by the chunk, not the recording. ``read(start, stop)`` returns samples
    [start, stop) with zeros outside the recording; ``progress(frames)`` is called per chunk.

    Equal to ``extract_f0`` + ``loudness_db`` of the whole recording for loudness and CREPE ("full",
    "tiny"): every frame is computed from the same samples (each chunk reads the half-windows
    around it), and chunks are whole multiples of CREPE's 2048-frame decoding batches, so the
    Viterbi decodes the same batches. pyin decodes one Viterbi path per call: chunks get
    ``margin_frames`` of audio on each side and agree with one pass except where the path is ambiguous.
    """
    if method not in F0_METHODS:
        raise ValueError(f"unknown f0 method {method!r}; choose one of {F0_METHODS}")
    if method != "pyin" and chunk_frames % 2048:
        raise ValueError("chunk_frames must be a multiple of CREPE's 2048-frame decoding batch")
    n = n_frames(n_samples, hop)
    f0, per, loud = (np.empty(n, np.float32) for _ in range(3))
    half = LOUDNESS_N_FFT // 2
    for start in range(0, n, chunk_frames):
        stop = min(start + chunk_frames, n)
        last = stop == n  # the last chunk also reads the samples past the frame grid
        end = n_samples if last else stop * hop
        x = read(start * hop - half, end + half)
        spec = _loudness_frames(x, sr, hop, LOUDNESS_N_FFT)
        loud[start:stop] = spec[: stop - start]
        if method == "pyin":
            lo, hi = max(0, start - margin_frames), (n_samples if last else min(n, stop + margin_frames) * hop)
            y = read(lo * hop, hi)
            cf0, cper = _pyin(y, sr, hop, FMIN, FMAX)
            cf0, cper = cf0[start - lo: stop - lo], cper[start - lo: stop - lo]
        else:
            # frames start … stop − 1 (the last chunk: … n, as one pass frames 1 + n_samples // hop)
            y = read(start * hop - CREPE_WINDOW // 2, (n_samples if last else (stop - 1) * hop) + CREPE_WINDOW // 2)
            cf0, cper = _crepe(y, sr, hop, method, FMIN, FMAX, 2048, context=True)
            cf0, cper = cf0[: stop - start], cper[: stop - start]
        f0[start:stop], per[start:stop] = cf0, np.clip(cper, 0.0, 1.0)
        if progress is not None:
            progress(stop - start)
    return f0, per, loud


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


class CausalFeatures:
    """f0 and loudness frames from audio blocks, looking only at the past (no look-ahead).

    Frame i of a block uses the samples up to the end of its hop, i.e. the window that *ends* at
    sample (i + 1)·hop, where the offline features (:func:`loudness_db`, :func:`extract_f0`) are centred on i·hop:

    * loudness: the offline formula (Hann 2048-point |STFT|, 20 log10, A-weighting, − 20.7 dB,
      floor −80 dB, mean over bins) on the 2048 samples ending at the frame's last sample;
    * f0: YIN (``librosa.yin``, frame 1024, fmin 50, fmax 2000 Hz) on the 1024 samples ending
      there; frames quieter than ``gate_db``, or whose YIN window is digitally silent (Σ y² <
      ``SILENT_ENERGY``: librosa.yin of zeros says 2000 Hz, a blip at every note that digital silence
      follows), hold the last pitch (the synth needs f0 > 0).

    No sample of the future is used, so the only added latency is the block itself; but the
    analysis windows are centred 1024 − 64 samples (60 ms, loudness) and 512 − 64 samples
    (28 ms, f0) behind the frame, so the controls trail the offline (centred) features by that.

    JavaScript mirror (the book's live page): ddx7/web/features.js; tests/test_web_features.py keeps them equal.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, hop: int = HOP, loudness_n_fft: int = 2048,
                 f0_frame: int = 1024, fmin: float = 50.0, fmax: float = 2000.0, gate_db: float = -70.0):
        self.sr, self.hop = sample_rate, hop
        self.n_fft, self.f0_frame = loudness_n_fft, f0_frame
        self.fmin, self.fmax, self.gate_db = fmin, fmax, gate_db
        self.reset()

    def reset(self):
        self.history = np.zeros(max(self.n_fft, self.f0_frame) - self.hop, np.float32)
        self.last_f0 = None

    def lag_ms(self) -> dict:
        return {"loudness": 1000 * (self.n_fft / 2 - self.hop) / self.sr,
                "f0": 1000 * (self.f0_frame / 2 - self.hop) / self.sr}

    def __call__(self, block):
        """A block of k·hop samples → (f0 [k], loudness [k]) as float32 numpy arrays."""
        import librosa

        block = np.asarray(block, np.float32)
        if block.ndim != 1 or len(block) == 0 or len(block) % self.hop:
            raise ValueError(f"blocks must be 1-D and a multiple of {self.hop} samples, got shape {block.shape}")
        k = len(block) // self.hop
        buf = np.concatenate([self.history, block])
        self.history = buf[len(buf) - len(self.history):]
        lbuf = buf[len(buf) - (self.n_fft - self.hop + len(block)):]
        spec = np.abs(librosa.stft(lbuf, n_fft=self.n_fft, hop_length=self.hop, center=False))[:, :k]
        db = 20.0 * np.log10(np.maximum(spec, 1e-20)) + _a_weighting(self.sr, self.n_fft)[:, None] - REF_DB
        loudness = np.maximum(db, -RANGE_DB).mean(axis=0).astype(np.float32)
        fbuf = buf[len(buf) - (self.f0_frame - self.hop + len(block)):]
        f0 = librosa.yin(fbuf, fmin=self.fmin, fmax=self.fmax, sr=self.sr, frame_length=self.f0_frame,
                         hop_length=self.hop, center=False)[:k].astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(fbuf.astype(np.float64), self.f0_frame)[::self.hop][:k]
        silent = np.einsum("ij,ij->i", windows, windows) < SILENT_ENERGY
        for i in range(k):  # hold the pitch through silence (and before the first sound)
            if loudness[i] < self.gate_db or silent[i] or not np.isfinite(f0[i]):
                f0[i] = self.last_f0 if self.last_f0 is not None else 220.0
            self.last_f0 = float(f0[i])
        return f0, loudness
