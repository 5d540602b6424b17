"""Resynthesis of any recording with a trained model: f0 + loudness → model → audio.

    ddx7 resynth voice.wav --run violin-6osc-imax2 --pitch-shift -12 --ratios 1,3,1,3,3,14 -o out.wav
    resynth_file("voice.wav", model=ModelChoice(run="violin-6osc-imax2", ratios=[1, 3, 1, 3, 3, 14]),
                 output="out.wav", pitch_shift=-12)

The recording is read in any common format and rate (downmixed, resampled to 16 kHz, peak
normalised as the training data was), its f0 and loudness are extracted with the extractor the
run's dataset used, shifted as asked, and rendered, optionally with interventions.

Any length fits in bounded memory: the audio waits in temporary files (``audio_io.Spool``), the
features are computed in 30 s chunks and the model renders 1 s blocks with its streaming
renderer. Where the input is silent the output is too (``ddx7.gate``). Options, the output path
and the checkpoint are checked before any work; the output is written atomically and never over
the input.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import FRAME_RATE, HOP, SAMPLE_RATE
from .audio_io import Spool, check_output, write_spool
from .checkpoints import load_model, run_dir
from .data.audio import read_audio_blocks
from .data.features import extract_f0, features_in_chunks, loudness_db
from .gate import SilenceGate
from .limiter import limit
from .stream import make_streamer
from .synth.fm import check_env_gain, check_ratios

MIN_VOICED_FRACTION = 0.05  # below this the input has no usable pitch
VOICED_PERIODICITY = 0.5
MIN_SECONDS = 0.15  # shorter inputs give no stable pitch (and librosa's 2048-point windows do not fit)
MAX_PITCH_SHIFT = 24.0  # semitones: two octaves either way
MAX_F0_HZ = SAMPLE_RATE / 4  # above this a harmonic tone has no second harmonic below Nyquist
MIN_F0_HZ = 20.0
SILENCE_PEAK = 1e-3  # -60 dBFS: an input whose peak stays below this is silence
# Long inputs are analysed in chunks of 8.2 s (one CREPE decoding batch) and rendered in 1 s
# blocks: memory stays bounded whatever the length.
CHUNK_FRAMES = 2048
RENDER_FRAMES = FRAME_RATE
PROGRESS_SECONDS = 10.0  # show progress for inputs longer than this


def find_checkpoint(run: str, profile: str | None = None, results_root="results", checkpoint_root=None) -> Path:
    """The shipped model (results/<profile>/<run>/model.pt) or the training checkpoint (best.pt)."""
    profiles = [profile] if profile else ["full", "quick", "smoke"]
    tried = []
    for p in profiles:
        for path in (Path(results_root) / p / run / "model.pt", run_dir(run, p, checkpoint_root) / "best.pt"):
            if path.exists():
                return path
            tried.append(str(path))
    raise FileNotFoundError(f"no trained model for run {run!r}; looked for: {', '.join(tried)}. "
                            f"Train it with `ddx7 train {run} --profile {profiles[0]}`.")


@dataclass(frozen=True)
class ModelChoice:
    """The trained model that renders — a run's (``run``, looked up by :func:`find_checkpoint` under
    ``profile``) or a checkpoint file — and the FM interventions on it: ``ratios`` and ``env_gain``,
    one number per operator (None: as trained)."""

    run: str | None = None
    checkpoint: str | os.PathLike | None = None
    profile: str | None = None
    ratios: Sequence[float] | None = None
    env_gain: Sequence[float] | None = None

    def __post_init__(self):
        if bool(self.run) == bool(self.checkpoint):
            raise ValueError("give --run RUN or --checkpoint PATH")

    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint else find_checkpoint(self.run, self.profile)


def fill_unvoiced(f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Unvoiced frames hold the last voiced pitch (leading ones take the first): the synth needs f0 > 0."""
    if not voiced.any():
        raise ValueError("no voiced frame to take a pitch from")
    last = np.maximum.accumulate(np.where(voiced, np.arange(len(f0)), -1))
    last[last < 0] = np.argmax(voiced)
    return f0[last].astype(np.float32)


def check_voiced(share: float, name: str):
    """Refuse an input whose share of voiced frames says it has no usable pitch."""
    if not share >= MIN_VOICED_FRACTION:  # also for NaN: no frames
        raise ValueError(f"{name}: no pitched sound found ({100 * share:.1f} % of frames voiced; "
                         f"need {100 * MIN_VOICED_FRACTION:.0f} %)")


def features(audio: np.ndarray, extractor: str = "pyin", name: str = "input"):
    """(f0_hz, loudness_db, periodicity) per frame for mono 16 kHz audio, unvoiced frames filled."""
    with warnings.catch_warnings():  # librosa's notes on short windows: our own checks speak instead
        warnings.simplefilter("ignore")
        f0, periodicity = extract_f0(audio, method=extractor)
        ld = loudness_db(audio).astype(np.float32)
    voiced = periodicity >= VOICED_PERIODICITY
    check_voiced(float(voiced.mean()) if len(voiced) else 0.0, name)
    return fill_unvoiced(f0, voiced), ld, periodicity


def check_shift(name: str, value: float, limit: float | None = None) -> float:
    """A shift option: finite, and within ±limit."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if limit is not None and abs(value) > limit:
        raise ValueError(f"{name} {value:g} is out of range: use -{limit:g} … +{limit:g}")
    return value


def check_pitch_range(f0_hz: np.ndarray, voiced: np.ndarray, pitch_shift: float):
    """The shifted pitch must stay where the synth can play it (MIN_F0_HZ … MAX_F0_HZ)."""
    played = f0_hz[voiced] * 2 ** (pitch_shift / 12)
    lo, hi = np.percentile(played, [5, 95]) if len(played) else (MIN_F0_HZ, MIN_F0_HZ)
    if hi > MAX_F0_HZ or lo < MIN_F0_HZ:
        raise ValueError(f"--pitch-shift {pitch_shift:g} puts the melody at {lo:.0f}–{hi:.0f} Hz; the synth plays "
                         f"{MIN_F0_HZ:g}–{MAX_F0_HZ:g} Hz: use a smaller shift")


class Input:
    """A recording read in bounded memory: mono 16 kHz samples in a :class:`~ddx7.audio_io.Spool`,
    × ``scale`` (the peak normalisation the training data had) when read through ``read``."""

    def __init__(self, path, normalise: bool = True):
        self.path = Path(path)
        blocks, self.source_sr, self.channels = read_audio_blocks(path, SAMPLE_RATE)
        self.spool = Spool()
        for block in blocks:
            self.spool.append(block)
        self.samples = self.spool.samples
        self.frames = self.samples // HOP
        if self.samples < MIN_SECONDS * SAMPLE_RATE:
            raise ValueError(f"{path}: too short ({self.samples / SAMPLE_RATE:.3f} s of audio; "
                             f"need at least {MIN_SECONDS:g} s)")
        self.peak = self.spool.peak
        self.scale = 1.0 / self.peak if normalise and self.peak > 0 else 1.0

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def silent(self) -> bool:
        return self.peak < SILENCE_PEAK

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.spool.read(start, stop) * np.float32(self.scale)


def progress_bar(recording: Input, desc: str, enabled: bool | None = None):
    """A tqdm bar in seconds of audio on stderr; shown for inputs over PROGRESS_SECONDS."""
    from tqdm.auto import tqdm

    show = recording.seconds > PROGRESS_SECONDS if enabled is None else enabled
    return tqdm(total=round(recording.seconds, 1), desc=desc, unit="s", file=sys.stderr, disable=not show,
                dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
                                               "[{elapsed}<{remaining}]")


def chunked_features(recording: Input, extractor: str, progress: bool | None = None):
    """(f0, loudness, periodicity) of every frame of a recording, in bounded memory
    (``data.features.features_in_chunks``: the same values as one pass, for CREPE and loudness)."""
    with progress_bar(recording, "features", progress) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa's notes on short windows: our own checks speak instead
        f0, per, ld = features_in_chunks(recording.read, recording.samples, extractor, CHUNK_FRAMES,
                                         progress=lambda frames: bar.update(frames / FRAME_RATE))
    return f0, ld, per


def finish_output(rendered, output) -> dict:
    """Write a rendered spool (atomically) or return it, peak-limited (:mod:`ddx7.limiter`) where it goes over
    full scale: the rest keeps the level the model rendered, which follows the input's loudness."""
    peak = rendered.peak
    info = {"seconds": rendered.samples / SAMPLE_RATE, "peak": peak, "limited": peak > 1.0}
    if output:
        write_spool(output, rendered, SAMPLE_RATE, limit=info["limited"])
    else:
        info["audio"] = limit(rendered.array()) if info["limited"] else rendered.array()
    return info


def limited_note(info: dict) -> str:
    """For the CLI's 'wrote' line: what the limiter did, or nothing when the rendering stayed within full scale."""
    if not info.get("limited"):
        return ""
    return f"; the rendering peaked at {20 * math.log10(info['peak']):+.1f} dBFS, limited around its overs"


def resynth_file(path, *, model: ModelChoice, output=None, extractor: str | None = None, pitch_shift: float = 0.0,
                 loudness_shift: float = 0.0, progress: bool | None = None) -> dict:
    """Resynthesize a recording of any length in bounded memory; returns an info dict (with the
    audio under ``"audio"`` when no ``output`` is given).

    Read → features in chunks (``extractor``; default: the run's) → pitch (semitones) and loudness
    (dB) shifts → the model's streaming renderer in 1 s blocks (equal to the offline render) →
    silence gate (:mod:`ddx7.gate`) → peak limiter where the output goes over full scale. Every check
    on options and paths happens before the work."""
    pitch_shift = check_shift("--pitch-shift", pitch_shift, MAX_PITCH_SHIFT)
    loudness_shift = check_shift("--loudness-shift", loudness_shift, 80.0)
    if output:
        check_output(output, inputs=[path, model.checkpoint])
    ckpt_path = model.checkpoint_path()
    net, ckpt = load_model(ckpt_path)
    n_ops = net.patch.n_ops if hasattr(net, "patch") else None
    if n_ops is None and (model.ratios is not None or model.env_gain is not None):
        raise ValueError("--ratios and --env-gain are FM interventions: they need a DDX7 run, not HpN")
    check_ratios(model.ratios, n_ops, "--ratios")
    check_env_gain(model.env_gain, n_ops, "--env-gain")
    recording = Input(path)
    try:
        extractor = extractor or ckpt.get("extractor") or "pyin"
        f0, ld, periodicity = chunked_features(recording, extractor, progress)
        voiced = periodicity >= VOICED_PERIODICITY
        check_voiced(float(voiced.mean()), str(path))
        check_pitch_range(f0, voiced, pitch_shift)
        f0 = fill_unvoiced(f0, voiced) * np.float32(2 ** (pitch_shift / 12))
        ld = np.clip(ld + np.float32(loudness_shift), -80.0, 0.0).astype(np.float32)
        streamer = make_streamer(net, model.ratios, model.env_gain)
        gate = SilenceGate()
        with Spool() as rendered, progress_bar(recording, "render", progress) as bar, torch.inference_mode():
            for start in range(0, recording.frames, RENDER_FRAMES):
                stop = min(start + RENDER_FRAMES, recording.frames)
                y = streamer.process(torch.from_numpy(f0[None, start:stop]), torch.from_numpy(ld[None, start:stop]))
                rendered.append(gate(recording.read(start * HOP, stop * HOP), y[0].numpy()))
                bar.update((stop - start) / FRAME_RATE)
            info = finish_output(rendered, output)
    finally:
        recording.spool.close()
    info.update(voiced_fraction=float(voiced.mean()), checkpoint=str(ckpt_path))
    return info
