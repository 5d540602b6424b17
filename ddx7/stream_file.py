"""``ddx7 stream``: a recording rendered block by block, as a live input would be.

    ddx7 stream voice.wav --run violin-6osc-imax2 --block-ms 4 -o live.wav

Causal features (``stream.CausalFeatures``) → the model's streaming renderer
(``stream.make_streamer``) → silence gate (``gate.SilenceGate``), one block at a time; the
recording and the result wait in temporary files (``resynth.Input``, ``audio_io.Spool``), so any
length fits in bounded memory. Prints the real-time factor of features + model.
"""

import math
import sys

import torch

from . import HOP, SAMPLE_RATE
from .stream import CausalFeatures, make_streamer


def load_streamer(run=None, checkpoint=None, profile=None, compiled: bool = False, ratios=None, env_gain=None,
                  seed: int = 0):
    """(streamer, model, checkpoint path) from ``--run`` or ``--checkpoint`` (a torch.save'd dict
    with 'config' and 'model', as written by ``ddx7 train``)."""
    from pathlib import Path

    from .checkpoints import load_model
    from .resynth import find_checkpoint

    if bool(run) == bool(checkpoint):
        raise ValueError("give --run RUN or --checkpoint PATH")
    path = Path(checkpoint) if checkpoint else find_checkpoint(run, profile)
    model, _ = load_model(path)
    return make_streamer(model, ratios, env_gain, compiled, seed), model, path


def check_stream_options(block_ms: float, threads: int | None) -> int:
    """Frames per block for ``--block-ms`` (a positive multiple of one frame); ``--threads`` >= 1."""
    frames_per_block = block_ms * SAMPLE_RATE / 1000 / HOP if math.isfinite(block_ms) else 0.0
    if not (1 <= frames_per_block <= 250 * 60 and frames_per_block == int(frames_per_block)):
        raise ValueError(f"--block-ms must be a positive multiple of {1000 * HOP / SAMPLE_RATE:g} ms "
                         f"(at most 60000), got {block_ms}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    return int(frames_per_block)


def voiced_fraction(recording, chunk_frames: int = 30 * 250) -> float:
    """Share of frames that sound (gate open) and are periodic (YIN): the whole-file check that
    stops ``stream`` from rendering noise as a buzz, as ``resynth`` refuses it. Chunked: bounded memory."""
    import numpy as np

    from .data.features import yin_periodicity
    from .gate import THRESHOLD_DBFS
    from .resynth import VOICED_PERIODICITY

    hop = 512
    voiced = total = 0
    for start in range(0, recording.frames, chunk_frames):
        x = recording.read(start * HOP, min(start + chunk_frames, recording.frames) * HOP)
        per = yin_periodicity(x, hop=hop)
        if len(per) == 0:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::hop][: len(per)]
        level = 10 * np.log10(np.maximum(np.square(frames, dtype=np.float64).mean(1), 1e-30))
        voiced += int(((per >= VOICED_PERIODICITY) & (level > THRESHOLD_DBFS)).sum())
        total += len(per)
    return voiced / max(total, 1)


def stream_file(path, run=None, checkpoint=None, profile=None, output=None, block_ms: float = 4.0,
                features: str = "causal", extractor: str = "pyin", compiled: bool = False, ratios=None,
                env_gain=None, normalise: bool = True, progress: bool | None = None, threads: int | None = 1) -> dict:
    """Read a recording, stream it block by block through features → model → silence gate, write the result.

    Bounded memory for any length (the input and output wait in temporary files). A silent input
    (peak below -60 dBFS) gives digital silence without running the model; one with too little
    pitched sound is refused, as by ``resynth``.

    ``threads``: torch intra-op threads while streaming (default 1, as a real-time audio thread;
    small ops on several threads mostly wait on each other, badly so on a busy machine)."""
    import numpy as np

    from .audio_io import Spool, check_output
    from .gate import SilenceGate
    from .resynth import MIN_VOICED_FRACTION, Input, chunked_features, finish_output, progress_bar

    k = check_stream_options(block_ms, threads)
    if features not in ("causal", "offline"):
        raise ValueError(f"--features must be causal or offline, got {features!r}")
    if output:
        check_output(output, inputs=[path, checkpoint])
    streamer, model, ckpt = load_streamer(run, checkpoint, profile, compiled, ratios, env_gain)
    recording = Input(path, normalise=normalise)
    info = {"input": str(path), "checkpoint": str(ckpt), "block_ms": block_ms, "features": features,
            "model": model.config["model"], "compiled": compiled, "threads": threads or torch.get_num_threads()}
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
        share = voiced_fraction(recording)
        if share < MIN_VOICED_FRACTION:
            raise ValueError(f"{path}: no pitched sound found ({100 * share:.1f} % of frames voiced; "
                             f"need {100 * MIN_VOICED_FRACTION:.0f} %)")
        if features == "offline":
            from .resynth import VOICED_PERIODICITY, fill_unvoiced

            f0_all, ld_all, per = chunked_features(recording, extractor, progress)
            f0_all = fill_unvoiced(f0_all, per >= VOICED_PERIODICITY)
            info["added_latency_ms"] = 1000 * 1024 / SAMPLE_RATE  # centred 2048-point loudness looks 1024 samples ahead
            info["note"] = f"precomputed centred features ({extractor} f0, 2048-point loudness): not causal"
            source = lambda start, stop: (f0_all[start:stop], ld_all[start:stop])  # noqa: E731
        else:
            extractor_fn = CausalFeatures()
            extractor_fn(np.zeros(k * HOP, np.float32))  # warm-up (librosa's first call imports and caches)
            extractor_fn.reset()
            info["added_latency_ms"] = 0.0
            info["feature_lag_ms"] = extractor_fn.lag_ms()
            source = lambda start, stop: extractor_fn(recording.read(start * HOP, stop * HOP))  # noqa: E731
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
    """Blocks of k frames: features (``source``) → model → gate → ``rendered``; returns the seconds
    spent in features + model + gate (reading and writing the temporary files left out)."""
    import time

    import numpy as np

    spent = 0.0
    with torch.inference_mode():
        for start in range(0, recording.frames, k):
            stop = min(start + k, recording.frames)
            x = recording.read(start * HOP, stop * HOP)
            t0 = time.perf_counter()
            f0, ld = source(start, stop)
            block = streamer.process(torch.from_numpy(np.ascontiguousarray(f0))[None],
                                     torch.from_numpy(np.ascontiguousarray(ld))[None])
            y = gate(x, block[0].numpy())
            spent += time.perf_counter() - t0
            rendered.append(y)
            bar.update((stop - start) / 250)
    return spent


def add_parser(sub):
    from .resynth import add_recording_arguments

    p = sub.add_parser("stream", help="render a recording block by block (streaming, causal features)")
    add_recording_arguments(p)
    p.add_argument("--block-ms", type=float, default=4.0, help="block length in ms, a multiple of 4 (default 4)")
    p.add_argument("--features", choices=("causal", "offline"), default="causal",
                   help="causal: loudness + YIN f0 from past samples only, block by block (default); "
                        "offline: the dataset's centred features of the whole file, computed first")
    p.add_argument("--extractor", default="pyin", help="f0 extractor for --features offline: pyin, tiny or full")
    p.add_argument("--compiled", action="store_true", help="use the TorchScript streaming DDX7")
    p.add_argument("--no-normalise", action="store_true", help="do not peak-normalise the input first")
    p.add_argument("--threads", type=int, default=1, help="torch threads while streaming (default 1)")
    p.set_defaults(func=cmd_stream)


def cmd_stream(args):
    from .cli import _floats

    ratios = _floats(args.ratios, "--ratios") if args.ratios else None
    gains = _floats(args.env_gain, "--env-gain") if args.env_gain else None
    info = stream_file(args.input, args.run, args.checkpoint, args.profile, args.output, args.block_ms, args.features,
                       args.extractor, args.compiled, ratios, gains, normalise=not args.no_normalise,
                       threads=args.threads)
    lag = info.get("feature_lag_ms")
    extra = (f"; causal features (no look-ahead), windows centred {lag['loudness']:.0f} ms (loudness) / "
             f"{lag['f0']:.0f} ms (f0) in the past" if lag else f"; {info.get('note', '')}")
    print(f"wrote {args.output}: {info['seconds']:.2f} s in {args.block_ms:g} ms blocks, real-time factor "
          f"{info['rtf']:.3f} (features + model){extra}", file=sys.stdout)
