"""Streaming real-time factor: one block of the latency's length at a time, state kept in between.

For every latency L (= block length) and every variant, a stream of ``seconds`` of controls is
rendered block by block (after a warm-up), and each block is timed: rt = compute time / L.
Reported per (variant, L): mean, std, p99 and max of rt, and the fraction of blocks over the
deadline (rt > 1). Wall-clock time (``time.perf_counter``) is the real-time measure; the thread's
CPU time (``time.thread_time``) is reported beside it, since on a shared machine the wall clock
also counts the time other processes held the core (the 1-minute load average is recorded).

Variants: ``ddx7-eager`` (StreamingDDX7 in Python), ``ddx7-torchscript`` (compile_streaming:
TorchScript, frozen), ``ddx7-native`` (NativeStreamingDDX7: the same in C, ddx7/native/stream_ddx7.c),
``hpn-eager`` (StreamingHpN). The DDX7 is the paper's Table 5 model
(violin 6 oscillators, Imax 2), HpN the paper's baseline, both with untrained weights (they do
not change the compute) and the reverb's wet gain set to 0.1 so that the reverb runs, as in a
trained model (at initialisation it is exactly dry and the streamer would skip it).
The garbage collector is paused during each timed stream, as an audio thread would.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import numpy as np
import torch

from .. import FRAME_RATE, HOP, SAMPLE_RATE
from .. import provenance as prov
from ..atomic import write_csv, write_json
from ..stream import StreamingDDX7, StreamingHpN, compile_streaming, make_streamer
from .bench import describe_models, table5_models

LATENCIES_MS = (4, 8, 16, 32, 64, 128, 256)
VARIANTS = ("ddx7-eager", "ddx7-torchscript", "ddx7-native", "hpn-eager")
PROFILE_SECONDS = {"smoke": 2.0, "quick": 60.0, "full": 60.0}
WARMUP_S = 1.0


def benchmark_models(profile: str, seed: int = 0, wet: float = 0.1):
    """Table 5's pair as ``profile`` trains it (ddx7.eval.bench.table5_models), the reverbs' wet gain at ``wet``."""
    models = table5_models(profile, seed)
    ddx7, hpn = models["ddx7"], models["hpn"]
    with torch.no_grad():
        ddx7.reverb.wet.fill_(wet)
        hpn.reverb.wet.fill_(wet)
    return ddx7, hpn


def make_streamers(ddx7, hpn, variants=VARIANTS) -> dict:
    makers = {"ddx7-eager": lambda: StreamingDDX7(ddx7), "ddx7-torchscript": lambda: compile_streaming(ddx7),
              "ddx7-native": lambda: make_streamer(ddx7, native=True), "hpn-eager": lambda: StreamingHpN(hpn)}
    unknown = set(variants) - set(makers)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {list(makers)}")
    return {v: makers[v]() for v in variants}


def stream_controls(n_frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic melody-like control stream: f0 gliding over 2 octaves, loudness wandering."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FRAME_RATE
    semis = 12 * np.sin(2 * np.pi * 0.25 * t) + np.cumsum(rng.normal(0, 0.05, n_frames)).clip(-6, 6)
    f0 = 220.0 * 2 ** (semis / 12)
    ld = (-35 + 15 * np.sin(2 * np.pi * 0.5 * t) + rng.normal(0, 1, n_frames)).clip(-80, 0)
    return torch.tensor(f0, dtype=torch.float32)[None], torch.tensor(ld, dtype=torch.float32)[None]


def time_stream(streamer, f0: torch.Tensor, ld: torch.Tensor, frames_per_block: int, warmup_blocks: int):
    """Per-block wall and thread-CPU seconds of a whole stream (warm-up blocks dropped)."""
    n_blocks = f0.shape[1] // frames_per_block
    blocks = [(f0[:, i * frames_per_block:(i + 1) * frames_per_block].contiguous(),
               ld[:, i * frames_per_block:(i + 1) * frames_per_block].contiguous()) for i in range(n_blocks)]
    wall = np.empty(n_blocks)
    cpu = np.empty(n_blocks)
    streamer.reset()
    perf, thread = time.perf_counter, time.thread_time
    gc.collect()
    gc.disable()
    try:
        with torch.inference_mode():
            for i, (fb, lb) in enumerate(blocks):
                c0 = thread()
                t0 = perf()
                streamer.process(fb, lb)
                t1 = perf()
                c1 = thread()
                wall[i] = t1 - t0
                cpu[i] = c1 - c0
    finally:
        gc.enable()
    return wall[warmup_blocks:], cpu[warmup_blocks:]


def streaming_rtf(variants=VARIANTS, latencies=LATENCIES_MS, seconds: float = 60.0, threads: int = 1,
                  progress: bool = True, seed: int = 0, profile: str = "full") -> list[dict]:
    """Rows of per-block RTF statistics for every variant at every latency, measured in one run."""
    from tqdm.auto import tqdm

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ddx7, hpn = benchmark_models(profile, seed)
        streamers = make_streamers(ddx7, hpn, variants)
        cpu_name = prov.cpu_model()
        rows = []
        for latency in tqdm(latencies, desc="rtf (streaming)", disable=not progress):
            frames = latency * SAMPLE_RATE / 1000 / HOP
            if frames < 1 or frames != int(frames):
                frame_ms = 1000 * HOP / SAMPLE_RATE
                raise ValueError(f"latency {latency} ms is not a whole number of {frame_ms:g} ms frames")
            frames = int(frames)
            warmup_blocks = max(5, int(np.ceil(WARMUP_S * FRAME_RATE / frames)))
            n_blocks = warmup_blocks + max(1, int(round(seconds * FRAME_RATE / frames)))
            f0, ld = stream_controls(n_blocks * frames, seed)
            block_s = latency / 1000
            for variant, streamer in streamers.items():
                load = os.getloadavg()[0]
                wall, cpu = time_stream(streamer, f0, ld, frames, warmup_blocks)
                rt, crt = wall / block_s, cpu / block_s
                rows.append({
                    "variant": variant, "latency_ms": latency, "block_frames": frames, "blocks": len(rt),
                    "stream_s": round(len(rt) * block_s, 3),
                    "rtf_mean": float(rt.mean()), "rtf_std": float(rt.std()), "rtf_median": float(np.median(rt)),
                    "rtf_p99": float(np.percentile(rt, 99)), "rtf_max": float(rt.max()),
                    "over_deadline": float((rt > 1.0).mean()),
                    "cpu_rtf_mean": float(crt.mean()), "cpu_rtf_p99": float(np.percentile(crt, 99)),
                    "threads": threads, "cpu": cpu_name, "torch": torch.__version__,
                    "loadavg_1m": round(load, 2), "cpu_count": os.cpu_count(),
                })
        return rows
    finally:
        torch.set_num_threads(previous_threads)


def ratio_table(table):
    """Side-by-side ratios per latency: HpN / DDX7 (eager, TorchScript), eager / TorchScript."""
    import pandas as pd

    wide = table.pivot(index="latency_ms", columns="variant", values="rtf_mean")
    out = pd.DataFrame(index=wide.index)
    if "hpn-eager" in wide and "ddx7-torchscript" in wide:
        out["hpn / ddx7-torchscript"] = wide["hpn-eager"] / wide["ddx7-torchscript"]
    if "hpn-eager" in wide and "ddx7-eager" in wide:
        out["hpn / ddx7-eager"] = wide["hpn-eager"] / wide["ddx7-eager"]
    if "ddx7-eager" in wide and "ddx7-torchscript" in wide:
        out["ddx7 eager / torchscript"] = wide["ddx7-eager"] / wide["ddx7-torchscript"]
    if "ddx7-torchscript" in wide and "ddx7-native" in wide:
        out["ddx7 torchscript / native"] = wide["ddx7-torchscript"] / wide["ddx7-native"]
    if "hpn-eager" in wide and "ddx7-native" in wide:
        out["hpn / ddx7-native"] = wide["hpn-eager"] / wide["ddx7-native"]
    return out.reset_index()


def paper_vs_streaming(table, out_dir):
    """DDX7 paper-procedure RTF (rtf.csv beside ours, if present) over DDX7 streaming RTF."""
    import pandas as pd

    path = Path(out_dir) / "rtf.csv"
    if not path.exists():
        return None
    paper = pd.read_csv(path).set_index("latency_ms")
    wide = table.pivot(index="latency_ms", columns="variant", values="rtf_mean")
    out = pd.DataFrame(index=wide.index)
    for variant, model in (("ddx7-native", "ddx7"), ("ddx7-torchscript", "ddx7"), ("ddx7-eager", "ddx7"),
                           ("hpn-eager", "hpn")):
        if variant in wide and f"{model}_mean" in paper:
            out[f"{model} paper procedure / {variant}"] = paper[f"{model}_mean"].reindex(wide.index) / wide[variant]
    return out.reset_index()


def run_streaming_benchmark(profile: str = "quick", out_dir=None, threads: int = 1, seconds: float | None = None,
                            progress: bool = True, latencies=None, variants=VARIANTS, verbose: bool = True):
    """Measure, write ``out_dir/rtf_streaming.csv`` (+ ``rtf_streaming.json``), print the tables, return the table."""
    import pandas as pd

    seconds = float(seconds if seconds is not None else PROFILE_SECONDS.get(profile, 60.0))
    out_dir = Path(out_dir) if out_dir is not None else Path("results") / profile
    rows = streaming_rtf(variants, tuple(latencies or LATENCIES_MS), seconds, threads, progress, profile=profile)
    table = pd.DataFrame(rows)
    write_csv(out_dir / "rtf_streaming.csv", table)
    ratios = ratio_table(table)
    write_json(out_dir / "rtf_streaming.json", {
        "procedure": "streaming: one block of the latency's length per process() call, state kept between blocks; "
                     "rt = per-block compute time / block duration (wall clock; thread CPU time beside it)",
        "stream_seconds": seconds, "warmup_seconds": WARMUP_S, "variants": list(variants),
        "models": {k: f"{v}, reverb wet 0.1" for k, v in describe_models(profile).items()},
        "gc": "paused during each timed stream", "ratios": ratios.to_dict(orient="records"),
        **prov.provenance(threads)})
    if verbose:
        show = table[["variant", "latency_ms", "blocks", "rtf_mean", "rtf_std", "rtf_p99", "over_deadline",
                      "cpu_rtf_mean", "loadavg_1m"]]
        with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
            print(f"Streaming real-time factor, {threads} thread(s) (torch.set_num_threads({threads})), "
                  f"{prov.cpu_model()}, torch {torch.__version__}, {seconds:g} s stream per cell")
            print(show.to_string(index=False))
            print("\nRatios of mean RTF, measured side by side in this run:")
            print(ratios.to_string(index=False))
            paper = paper_vs_streaming(table, out_dir)
            if paper is not None:
                print("\nPaper procedure (rtf.csv) over streaming:")
                print(paper.to_string(index=False))
        print(f"\nwrote {out_dir / 'rtf_streaming.csv'}")
    return table

