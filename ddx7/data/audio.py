"""Reading audio files and the paper's preprocessing into 4 s excerpts.

Preprocessing of one recording (URMP stem, rendered piece or user file), as in the paper:

1. read, downmix to mono, resample to 16 kHz (soxr, high quality);
2. reject unusable input with a :class:`DataError` naming the file: unreadable or empty file,
   silence only (peak below -60 dBFS), heavy clipping (more than 0.5 % of samples in flat runs
   at full scale; lighter clipping is kept and reported as a warning);
3. peak-normalise the whole recording to 1.0;
4. split at silences with ``librosa.effects.split(top_db=40)`` (frame 2048, hop 512);
5. cut every non-silent interval into consecutive 4 s chunks from its start; the remainder of an
   interval is kept only if it is *longer than 3 s* (chunks <= 3 s are dropped, as in the paper);
6. a kept 3-4 s chunk is padded **with zeros at the end** to 4 s (as the reference code does);
   features are computed on the padded excerpt, so the tail reads as silence (loudness at the
   -80 dB floor), and ``n_valid`` records how many samples are real audio. The periodicity
   filter averages over the valid frames only.

Interval starts are multiples of 512 samples and chunks are 64000 samples, so every excerpt
starts on the 64-sample frame grid of its recording (needed to slice ground-truth f0).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import SAMPLE_RATE
from .errors import DataError

EXCERPT_SECONDS = 4.0
EXCERPT_SAMPLES = int(EXCERPT_SECONDS * SAMPLE_RATE)  # 64000
MIN_SECONDS = 3.0  # chunks of <= 3 s are dropped
TOP_DB = 40.0
SILENCE_PEAK = 1e-3  # -60 dBFS: below this a file is "silence only"
CLIP_LEVEL = 0.999
CLIP_REJECT_FRACTION = 0.005

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
                    ".m4a", ".caf", ".w64", ".au", ".snd")


@dataclass
class Recording:
    """A mono 16 kHz recording ready for chunking."""

    path: str
    audio: np.ndarray  # float32, peak-normalised to 1.0
    source_sr: int
    channels: int
    warnings: list = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class Chunk:
    start: int  # sample offset in the (resampled) recording
    audio: np.ndarray  # float32 [EXCERPT_SAMPLES], zero padded
    n_valid: int  # samples of real audio at the start of ``audio``


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(x.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(
        np.float32
    )


def check_input_file(path) -> Path:
    """The checks every reader makes first, each with its own message: exists, a file, not empty,
    and (for WAV) not cut short."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an audio file")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    cut = wav_truncation(path)
    if cut is not None:
        declared, present = cut
        raise DataError(f"{path}: truncated WAV file: its header announces {declared:,} bytes of audio but only "
                        f"{present:,} are there ({100 * present / declared:.1f} %); copy or export it again")
    return path


def wav_truncation(path) -> tuple[int, int] | None:
    """(announced, present) byte counts of a RIFF/WAVE file's ``data`` chunk when the file ends
    before it does; None for complete files, other formats, and streamed WAVs whose header left
    the size open (0 or 0xFFFFFFFF). libsndfile reads such a file silently as a shorter one."""
    import struct

    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, length = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                if length in (0, 0xFFFFFFFF):
                    return None
                present = size - pos - 8
                return (length, present) if present < length else None
            pos += 8 + length + (length & 1)
    return None


def _reason(err: Exception) -> str:
    """An exception as words: some backends raise with an empty message (audioread's NoBackendError)."""
    text = str(err).strip()
    if type(err).__name__ == "NoBackendError" or not text:
        return f"{type(err).__name__}: no decoder for this format" if not text else text
    return text


def _open_error(path, err_sf, err_lr) -> DataError:
    return DataError(f"{path}: cannot read audio: not a format this machine decodes, or a damaged file "
                     f"(soundfile: {_reason(err_sf)}; audioread: {_reason(err_lr)})")


def read_audio(path, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, int, int]:
    """Read any common audio file -> (mono float32 at ``sr``, original rate, channels).

    Uses soundfile (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...) and falls back to librosa's
    audioread backend (e.g. m4a with ffmpeg installed). Raises DataError naming the file.
    The whole of :func:`read_audio_blocks` (the same samples as a one-shot read and resampling).
    """
    blocks, file_sr, channels = read_audio_blocks(path, sr)
    mono = list(blocks)
    if not mono:
        raise DataError(f"{path}: empty audio (no samples)")
    return np.concatenate(mono), file_sr, channels


def _read_audioread(path):
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, file_sr = librosa.load(str(path), sr=None, mono=False)
    y = np.atleast_2d(y)
    return y.mean(axis=0).astype(np.float32), int(file_sr), int(y.shape[0])


def read_audio_blocks(path, sr: int = SAMPLE_RATE, block: int = 1 << 16):
    """Any common audio file in bounded memory: (iterator of mono float32 blocks at ``sr``,
    original rate, channels); checks as in :func:`check_input_file`, DataError naming the file.
    Resampling is soxr's streaming resampler, which gives the same samples as the one-shot call.
    Formats only audioread decodes are read whole (no block API)."""
    import soundfile as sf

    path = check_input_file(path)
    try:
        info = sf.info(str(path))
    except Exception as err_sf:  # noqa: BLE001
        try:
            mono, file_sr, channels = _read_audioread(path)
        except Exception as err_lr:  # noqa: BLE001
            raise _open_error(path, err_sf, err_lr) from None
        if mono.size == 0:
            raise DataError(f"{path}: empty audio (no samples)") from None
        if not np.all(np.isfinite(mono)):
            raise DataError(f"{path}: audio contains NaN or infinite samples") from None
        out = resample(mono, file_sr, sr)
        return iter([out[i:i + block] for i in range(0, len(out), block)]), file_sr, channels
    if info.frames == 0:
        raise DataError(f"{path}: empty audio (no samples)")

    def blocks():
        import soxr

        stream = None if info.samplerate == sr else soxr.ResampleStream(info.samplerate, sr, 1, dtype="float32",
                                                                          quality="HQ")
        with sf.SoundFile(str(path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                last = len(data) < block
                mono = data.mean(axis=1)
                if not np.all(np.isfinite(mono)):
                    raise DataError(f"{path}: audio contains NaN or infinite samples")
                out = mono if stream is None else stream.resample_chunk(mono, last=last)
                if len(out):
                    yield out.astype(np.float32, copy=False)
                if last:
                    return

    return blocks(), int(info.samplerate), int(info.channels)


def clipped_fraction(x: np.ndarray, level: float = CLIP_LEVEL, min_run: int = 3) -> float:
    """Fraction of samples in runs of >= ``min_run`` consecutive samples at |x| >= level."""
    hot = np.abs(x) >= level
    if not hot.any():
        return 0.0
    # run lengths of True
    d = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    runs = ends - starts
    return float(runs[runs >= min_run].sum() / len(x))


def check_audio(x: np.ndarray, name: str, pre_resample: np.ndarray | None = None) -> list[str]:
    """Reject silence-only and heavily clipped audio (DataError); return warnings."""
    notes = []
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak < SILENCE_PEAK:
        raise DataError(f"{name}: silence only (peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS)")
    raw = x if pre_resample is None else pre_resample
    frac = clipped_fraction(raw)
    if frac > CLIP_REJECT_FRACTION:
        raise DataError(
            f"{name}: clipped audio ({100 * frac:.2f} % of samples in flat runs at full scale; "
            f"limit {100 * CLIP_REJECT_FRACTION:.1f} %)"
        )
    if frac > 0:
        notes.append(f"{name}: light clipping ({100 * frac:.3f} % of samples), kept")
    return notes


def load_recording(path, sr: int = SAMPLE_RATE) -> Recording:
    """Read, check and peak-normalise one file (steps 1-3 above)."""
    import soundfile as sf

    audio, file_sr, channels = read_audio(path, sr)
    raw = None
    try:  # clipping is judged on the original samples (resampling smooths flat tops)
        raw = sf.read(str(path), dtype="float32", always_2d=True)[0]
        raw = raw[:, np.argmax(np.abs(raw).max(axis=0))]
    except Exception:  # noqa: BLE001 - formats only audioread reads: judge the resampled audio
        raw = None
    notes = check_audio(audio, str(path), raw)
    return Recording(str(path), peak_normalise(audio), file_sr, channels, notes)


def peak_normalise(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x)))
    if peak <= 0:
        return x.astype(np.float32)
    return (x / peak).astype(np.float32)


def nonsilent_intervals(x: np.ndarray, top_db: float = TOP_DB) -> np.ndarray:
    """librosa.effects.split with the paper's threshold: [[start, end], ...] in samples."""
    import librosa

    return librosa.effects.split(x, top_db=top_db, frame_length=2048, hop_length=512)


def chunk_intervals(
    n_samples: int,
    intervals,
    length: int = EXCERPT_SAMPLES,
    min_len: int = int(MIN_SECONDS * SAMPLE_RATE),
) -> list[tuple[int, int]]:
    """4 s chunks of each interval from its start; a remainder is kept if > ``min_len``."""
    out = []
    for start, end in intervals:
        start, end = int(start), min(int(end), n_samples)
        pos = start
        while end - pos >= length:
            out.append((pos, pos + length))
            pos += length
        if end - pos > min_len:
            out.append((pos, end))
    return out


def make_chunks(x: np.ndarray, top_db: float = TOP_DB) -> list[Chunk]:
    """Steps 4-6: non-silent intervals -> zero-padded 4 s excerpts."""
    chunks = []
    for s, e in chunk_intervals(len(x), nonsilent_intervals(x, top_db)):
        a = np.zeros(EXCERPT_SAMPLES, np.float32)
        a[: e - s] = x[s:e]
        chunks.append(Chunk(s, a, e - s))
    return chunks
