"""``ddx7 stream``: a recording rendered block by block, as a live input would be.

    ddx7 stream voice.wav --run violin-6osc-imax2 --block-ms 4 -o live.wav
    stream_file("voice.wav", model=ModelChoice(run="violin-6osc-imax2"), output="live.wav", block_ms=4)

Causal features (``data.features.CausalFeatures``) → the model's streaming renderer
(``stream.make_streamer``) → silence gate (``gate.SilenceGate``), one block at a time; the
recording and the result wait in temporary files (``resynth.Input``, ``audio_io.Spool``), so any
length fits in bounded memory. Prints the real-time factor of features + model.
"""

import math
import time

import numpy as np
import torch

from . import FRAME_RATE, HOP, SAMPLE_RATE
from .audio_io import Spool, check_output
from .checkpoints import load_model
from .data.features import CausalFeatures, yin_periodicity
from .gate import THRESHOLD_DBFS, SilenceGate, rms_db
from .resynth import (
    VOICED_PERIODICITY,
    Input,
    ModelChoice,
    check_voiced,
    chunked_features,
    fill_unvoiced,
    finish_output,
    progress_bar,
)
from .stream import make_streamer


def load_streamer(model: ModelChoice, compiled: bool = False, seed: int = 0, native: bool = False):
    """(streamer, model, checkpoint path) of a run or a checkpoint file (a torch.save'd dict with
    'config' and 'model', as written by ``ddx7 train``), with the chosen interventions."""
    path = model.checkpoint_path()
    net, _ = load_model(path)
    return make_streamer(net, model.ratios, model.env_gain, compiled, seed, native), net, path


def check_stream_options(block_ms: float, threads: int | None) -> int:
    """Frames per block for ``--block-ms`` (a positive multiple of one frame); ``--threads`` >= 1."""
    frames_per_block = block_ms * SAMPLE_RATE / 1000 / HOP if math.isfinite(block_ms) else 0.0
    if not (1 <= frames_per_block <= FRAME_RATE * 60 and frames_per_block == int(frames_per_block)):
        raise ValueError(f"--block-ms must be a positive multiple of {1000 * HOP / SAMPLE_RATE:g} ms "
                         f"(at most 60000), got {block_ms}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    return int(frames_per_block)


def voiced_fraction(recording, chunk_frames: int = 30 * FRAME_RATE) -> float:
    """Share of frames that sound (gate open) and are periodic (YIN): the whole-file check that
    stops ``stream`` from rendering noise as a buzz, as ``resynth`` refuses it. Chunked: bounded memory."""
    hop = 512
    voiced = total = 0
    for start in range(0, recording.frames, chunk_frames):
        x = recording.read(start * HOP, min(start + chunk_frames, recording.frames) * HOP)
        per = yin_periodicity(x, hop=hop)
        if len(per) == 0:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::hop][: len(per)]
        voiced += int(((per >= VOICED_PERIODICITY) & (rms_db(frames) > THRESHOLD_DBFS)).sum())
        total += len(per)
    return voiced / max(total, 1)


def stream_file(path, *, model: ModelChoice, output=None, block_ms: float = 4.0, features: str = "causal",
                extractor: str = "pyin", compiled: bool = False, normalise: bool = True, progress: bool | None = None,
                threads: int | None = 1, native: bool = False) -> dict:
    """Read a recording, stream it block by block through features → model → silence gate, write the result
    (or return the audio under ``"audio"`` when no ``output`` is given), with the real-time factor.

    ``block_ms``: block length, a multiple of one frame (4 ms). ``features``: ``causal`` (from past
    samples only, block by block) or ``offline`` (the dataset's centred features of the whole file,
    with ``extractor``). ``compiled``: the TorchScript streaming DDX7; ``native``: the C one
    (ddx7.stream_native, the fastest). ``normalise``: peak-normalise
    the input first.

    Bounded memory for any length (the input and output wait in temporary files). A silent input
    (peak below -60 dBFS) gives digital silence without running the model; one with too little
    pitched sound is refused, as by ``resynth``.

    ``threads``: torch intra-op threads while streaming (default 1, as a real-time audio thread;
    small ops on several threads mostly wait on each other, badly so on a busy machine)."""
    k = check_stream_options(block_ms, threads)
    if features not in ("causal", "offline"):
        raise ValueError(f"--features must be causal or offline, got {features!r}")
    if output:
        check_output(output, inputs=[path, model.checkpoint])
    streamer, net, ckpt = load_streamer(model, compiled, native=native)
    recording = Input(path, normalise=normalise)
    info = {"input": str(path), "checkpoint": str(ckpt), "block_ms": block_ms, "features": features,
            "model": net.config["model"], "compiled": compiled, "native": native,
            "threads": threads or torch.get_num_threads()}
    try:
        if recording.silent:
            with Spool() as rendered:
                for start in range(0, recording.frames * HOP, 1 << 16):
                    rendered.append(np.zeros(min(1 << 16, recording.frames * HOP - start), np.float32))
                level = ("digital silence" if recording.peak == 0
                         else f"peak {20 * math.log10(recording.peak):.0f} dBFS")
                info.update(finish_output(rendered, output), rtf=0.0,
                            note=f"silent input ({level}): silent output, the model was not run")
            return info
        check_voiced(voiced_fraction(recording), str(path))
        if features == "offline":
            f0_all, ld_all, per = chunked_features(recording, extractor, progress)
            f0_all = fill_unvoiced(f0_all, per >= VOICED_PERIODICITY)
            info["added_latency_ms"] = 1000 * 1024 / SAMPLE_RATE  # centred 2048-point loudness looks 1024 samples ahead
            info["note"] = f"precomputed centred features ({extractor} f0, 2048-point loudness): not causal"
            source = lambda start, stop, x: (f0_all[start:stop], ld_all[start:stop])  # noqa: E731
        else:
            extractor_fn = CausalFeatures()
            extractor_fn(np.zeros(k * HOP, np.float32))  # warm-up (librosa's first call imports and caches)
            extractor_fn.reset()
            info["added_latency_ms"] = 0.0
            info["feature_lag_ms"] = extractor_fn.lag_ms()
            source = lambda start, stop, x: extractor_fn(x)  # noqa: E731
        with torch.inference_mode():  # warm-up (TorchScript optimises on its first calls), then a fresh stream
            for _ in range(3):
                streamer.process(torch.full((1, k), 220.0), torch.full((1, k), -40.0))
        streamer.reset()
        previous_threads = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            with Spool() as rendered, progress_bar(recording, "stream", progress) as bar:
                spent = _stream_blocks(streamer, recording, k, source, SilenceGate(), rendered, bar)
                info.update(finish_output(rendered, output))
        finally:
            torch.set_num_threads(previous_threads)
    finally:
        recording.spool.close()
    info["rtf"] = spent / max(info["seconds"], 1e-9)
    return info


def _stream_blocks(streamer, recording, k, source, gate, rendered, bar) -> float:
    """Blocks of k frames: features (``source(start, stop, block audio)``) → model → gate → ``rendered``;
    returns the seconds spent in features + model + gate (reading and writing the temporary files left out)."""
    spent = 0.0
    with torch.inference_mode():
        for start in range(0, recording.frames, k):
            stop = min(start + k, recording.frames)
            x = recording.read(start * HOP, stop * HOP)
            t0 = time.perf_counter()
            f0, ld = source(start, stop, x)
            block = streamer.process(torch.from_numpy(np.ascontiguousarray(f0))[None],
                                     torch.from_numpy(np.ascontiguousarray(ld))[None])
            y = gate(x, block[0].numpy())
            spent += time.perf_counter() - t0
            rendered.append(y)
            bar.update((stop - start) / FRAME_RATE)
    return spent

