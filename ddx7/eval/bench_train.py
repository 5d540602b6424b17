"""``ddx7 bench train``: where a training step's time goes, ours beside a straightforward one.

Each step is split into parts, timed one after the other with ``time.perf_counter`` (CPU: every
operation has finished when its call returns): decoder (controls from f0 and loudness), synth,
reverb, loss, backward (``zero_grad`` + ``loss.backward()``), optimizer (``Adam.step()``). The
two steps alternate within each repeat, after a warm-up, so that a busy machine slows both alike;
each part's time is its median over the repeats, the step's the median of the repeats' sums.

Ours is the public API: ``ddx7.models.build_model``'s sub-steps as its forward calls them,
``ddx7.losses.MultiScaleSpectralLoss``. The straightforward step is :mod:`.reference_step` for
DDX7; for HpN it is our HpN decoder with plain ``nn.Linear``/``nn.GRU`` layers (the same weights),
the harmonic bank as DDSP writes it (``reference_step.naive_harmonics``), our filtered noise, no
reverb and the naive loss.

The decoder's achieved rate: its FLOPs counted analytically (2 · C_in · C_out · kernel per conv
and frame, 2 · in · out per linear layer, 6 · H · (in + H) per GRU layer; × 3 for forward +
backward) over its measured time, beside the machine's fp32 rates at the same thread count: a
``torch.matmul`` (MKL) and the same product as a oneDNN channels-last 1×1 convolution (how
``models.layers`` runs HpN's dense layers); the better of the two bounds the decoder's time.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn

from .. import FRAME_RATE, HOP
from ..losses import MultiScaleSpectralLoss
from ..models import DDX7, build_model
from ..models.layers import GRU, linear
from ..provenance import cpu_model, provenance
from ..runs import model_kwargs, run_config
from ..synth.harmonic import filter_noise, noise_filters, render_hpn, uniform_noise
from .reference_step import NaiveDDX7, naive_harmonics, naive_mss, with_plain_layers

PARTS = ("decoder", "synth", "reverb", "loss", "backward", "optimizer")
DEFAULT_MODELS = {"ddx7": {"model": "ddx7", "patch": "violin-6osc", "imax": 2.0}, "hpn": {"model": "hpn"}}
DEFAULT_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
LR = 3e-4
STRAIGHTFORWARD = {
    "ddx7": "reference_step.NaiveDDX7 (plain conv TCN, naive FM, no reverb) + naive MSS",
    "hpn": "our HpN decoder with nn.Linear/nn.GRU + reference_step.naive_harmonics + our noise, no reverb + naive MSS",
}


@dataclass
class TrainingStep:
    """A training step in timed parts: decoder(f0, loudness) → controls, synth(f0, controls) → audio,
    reverb(audio) → audio (None: no reverb), loss(prediction, target) → scalar."""

    label: str
    model: nn.Module
    decoder: Callable
    synth: Callable
    reverb: Callable | None
    loss: Callable
    flop_module: nn.Module  # whose Conv1d / Linear / GRU layers make the decoder's FLOPs
    bf16: bool = False  # the decoder under torch.autocast(bfloat16) (the models keep synth and reverb float32)
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self):
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)

    def controls(self, f0_hz, loudness_db):
        """The decoder's controls, under bf16 autocast where ``bf16``."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.decoder(f0_hz, loudness_db)

    def run(self, f0_hz, loudness_db, target) -> tuple[dict, float]:
        """One step: (seconds per part, loss)."""
        times, t0 = {}, time.perf_counter()

        def tick(part):
            nonlocal t0
            now = time.perf_counter()
            times[part] = now - t0
            t0 = now

        controls = self.controls(f0_hz, loudness_db)
        tick("decoder")
        audio = self.synth(f0_hz, controls)
        tick("synth")
        if self.reverb is not None:
            audio = self.reverb(audio)
            tick("reverb")
        loss = self.loss(audio, target)
        tick("loss")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        tick("backward")
        self.optimizer.step()
        tick("optimizer")
        return times, loss.item()

    def run_decoder(self, f0_hz, loudness_db) -> float:
        """Seconds for the decoder's forward + backward alone (gradients discarded)."""
        t0 = time.perf_counter()
        controls = self.controls(f0_hz, loudness_db)
        outputs = controls.values() if isinstance(controls, dict) else [controls]
        sum(x.sum() for x in outputs if x.requires_grad).backward()
        seconds = time.perf_counter() - t0
        self.optimizer.zero_grad(set_to_none=True)
        return seconds


def our_step(config: dict, fft_sizes=DEFAULT_FFT_SIZES, bf16: bool = False) -> TrainingStep:
    """The package's step: ``build_model(config)``'s sub-steps and MultiScaleSpectralLoss; ``bf16``: the
    decoder under bf16 autocast (``train.precision: bf16``)."""
    model = build_model(config).train()
    loss = MultiScaleSpectralLoss(fft_sizes)
    if isinstance(model, DDX7):
        return TrainingStep("ours", model, model.get_controls, lambda f0, c: model.synth.get_signal(f0, c["envelopes"]),
                            model.reverb, loss, model.decoder, bf16)
    return TrainingStep("ours", model, model.get_controls, _hpn_synth(model), model.reverb, loss, model, bf16)


def straightforward_step(config: dict, fft_sizes=DEFAULT_FFT_SIZES) -> TrainingStep:
    """The baseline: :class:`NaiveDDX7` (DDX7) or our HpN decoder without reverb and with
    :func:`naive_harmonics` (HpN), with ``naive_mss``."""
    config = dict(config)
    kind = config.pop("model")
    loss = lambda prediction, target: naive_mss(prediction, target, fft_sizes)  # noqa: E731
    if kind == "ddx7":
        model = NaiveDDX7(**config).train()
        return TrainingStep("straightforward", model, model.decode, model.synthesize, None, loss, model.decoder)
    model = with_plain_layers(build_model({"model": kind, **config, "reverb": False})).train()

    def synth(f0, c):
        noise = uniform_noise(f0.shape[0], f0.shape[1], model.hop)
        noisy = filter_noise(noise, noise_filters(c["noise_magnitudes"]))[:, :f0.shape[1] * model.hop]
        return naive_harmonics(f0, c["harmonic_amplitudes"], model.hop, model.sample_rate) + noisy

    return TrainingStep("straightforward", model, model.get_controls, synth, None, loss, model)


def _hpn_synth(model) -> Callable:
    """HpN's synth as its get_signal calls it, reverb apart."""
    return lambda f0, c: render_hpn(f0, c["harmonic_amplitudes"], c["noise_magnitudes"], model.hop, model.sample_rate)


def decoder_flops(module: nn.Module, frames: int, batch: int) -> int:
    """Forward FLOPs (multiply + add) of the Conv1d, Linear and GRU layers in ``module`` over [batch, frames]."""
    per_frame = 0
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            per_frame += 2 * m.in_channels * m.out_channels * m.kernel_size[0] // m.groups
        elif isinstance(m, nn.Linear):
            per_frame += 2 * m.in_features * m.out_features
        elif isinstance(m, (nn.GRU, GRU)):
            directions = 2 if getattr(m, "bidirectional", False) else 1
            for layer in range(getattr(m, "num_layers", 1)):
                n_in = m.input_size if layer == 0 else m.hidden_size * directions
                per_frame += 6 * m.hidden_size * (n_in + m.hidden_size) * directions
    return per_frame * frames * batch


def _gflops(product, flops: int, repeats: int) -> float:
    """GFLOP/s of ``product()`` (``flops`` per call): median of ``repeats`` timed calls after one warm-up."""
    product()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product()
        times.append(time.perf_counter() - t0)
    return flops / statistics.median(times) / 1e9


def matmul_gflops(size: int = 2048, repeats: int = 3, dtype: torch.dtype = torch.float32) -> float:
    """The rate of an n × n ``torch.matmul`` (fp32: MKL; bf16: oneDNN, AMX where the CPU has it) at the
    current thread count: GFLOP/s, median of ``repeats``."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return _gflops(lambda: torch.matmul(a, b), 2 * size ** 3, repeats)


def onednn_gflops(rows: int = 16_000, size: int = 1024, repeats: int = 3) -> float:
    """The fp32 rate of the same kind of product as oneDNN runs it (``models.layers.linear``: a
    channels-last 1×1 convolution), [rows, size] × [size, size]: GFLOP/s, median of ``repeats``.
    On AMD Zen 5 it is ~2× the ``torch.matmul`` (MKL) rate, which stays on AVX2 there."""
    x, w = torch.randn(16, rows // 16, size), torch.randn(size, size)
    return _gflops(lambda: linear(x, w, None), 2 * rows * size * size, repeats)


def bench_inputs(batch: int, frames: int, seed: int = 0):
    """f0 (a glide 196 → 440 Hz with vibrato), loudness (dB) [B, T] and a noise target [B, T · hop]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, frames).expand(batch, frames)
    f0 = 196 * 2 ** (1.17 * t) * (1 + 0.01 * torch.sin(2 * torch.pi * 5 * t * frames / FRAME_RATE))
    loudness = -40 + 20 * t + torch.rand(batch, frames, generator=g)
    return f0.contiguous(), loudness.contiguous(), 0.1 * torch.randn(batch, frames * HOP, generator=g)


def resolve_config(model: str = "ddx7", run: str | None = None, profile: str = "paper") -> tuple[dict, tuple, str]:
    """(model config, FFT sizes, description) of ``--run`` (its config in ``profile``) or of ``--model``'s default."""
    if run is not None:
        cfg = run_config(run, profile)
        return model_kwargs(cfg), tuple(cfg["loss"]["fft_sizes"]), f"run {run} ({profile} profile)"
    if model not in DEFAULT_MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(DEFAULT_MODELS)}")
    config = DEFAULT_MODELS[model]
    name = f"ddx7 {config['patch']}, Imax {config['imax']:g}" if model == "ddx7" else "hpn (GRU 512)"
    return dict(config), DEFAULT_FFT_SIZES, name


@dataclass
class TrainBench:
    """``steps``: ms per part (rows PARTS + "step"), columns ours_ms, straightforward_ms, speedup;
    ``rates``: the decoders' GFLOP/s and the matmul rate; ``losses``: each step's last loss; ``info``: the header."""

    steps: pd.DataFrame
    rates: pd.DataFrame
    losses: dict
    info: dict


def run_train_bench(model: str = "ddx7", batch: int = 16, seconds: float = 4.0, run: str | None = None,
                    threads: int = 1, repeats: int = 5, warmup: int = 1, matmul_size: int = 2048,
                    seed: int = 0, profile: str = "paper", bf16: bool = False) -> TrainBench:
    """Time our training step and the straightforward one side by side (see the module doc); ``bf16``: ours
    with its decoder under bf16 autocast, the straightforward one float32 as always."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        config, fft_sizes, description = resolve_config(model, run, profile)
        frames = max(1, int(seconds * FRAME_RATE + 0.5))
        torch.manual_seed(seed)
        steps = [our_step(config, fft_sizes, bf16), straightforward_step(config, fft_sizes)]
        f0, loudness, target = bench_inputs(batch, frames, seed)
        times = {s.label: [] for s in steps}
        decoder_times = {s.label: [] for s in steps}
        losses = {}
        for i in range(warmup + repeats):
            for s in steps:
                part_times, losses[s.label] = s.run(f0, loudness, target)
                decoder_seconds = s.run_decoder(f0, loudness)
                if i >= warmup:
                    times[s.label].append(part_times)
                    decoder_times[s.label].append(decoder_seconds)
        matmul, onednn = matmul_gflops(matmul_size), onednn_gflops()
        matmul_bf16 = matmul_gflops(matmul_size, dtype=torch.bfloat16) if bf16 else None
    finally:
        torch.set_num_threads(previous_threads)
    table = pd.DataFrame({"part": [*PARTS, "step"]})
    for s in steps:
        rows = times[s.label]
        medians = [statistics.median(r[p] for r in rows) if p in rows[0] else float("nan") for p in PARTS]
        table[f"{s.label}_ms"] = [1e3 * m for m in medians] + [1e3 * statistics.median(sum(r.values()) for r in rows)]
    table["speedup"] = table["straightforward_ms"] / table["ours_ms"]
    rates = {}
    for s in steps:
        flops = decoder_flops(s.flop_module, frames, batch)
        forward = flops / (table.loc[0, f"{s.label}_ms"] / 1e3) / 1e9
        both = 3 * flops / statistics.median(decoder_times[s.label]) / 1e9
        best = max(matmul, onednn)
        rates[s.label] = {"decoder forward GFLOP": flops / 1e9, "decoder forward GFLOP/s": forward,
                          "decoder fwd+bwd GFLOP/s": both, f"fp32 matmul (MKL) {matmul_size}² GFLOP/s": matmul,
                          "fp32 oneDNN 1×1 conv GFLOP/s": onednn, "decoder fwd+bwd / best of the two": both / best,
                          "decoder fwd+bwd at that rate, ms": 3 * flops / best / 1e6}
        if s.bf16:  # bf16 runs in ours only; its bound is the bf16 product's rate
            rates[s.label][f"bf16 matmul {matmul_size}² GFLOP/s"] = matmul_bf16
    info = {"cpu": cpu_model(), "torch": torch.__version__, "threads": threads, "model": description,
            "batch": batch, "seconds": frames / FRAME_RATE, "frames": frames, "repeats": repeats, "warmup": warmup,
            "straightforward": STRAIGHTFORWARD[config["model"]],
            "ours": "decoder under bf16 autocast (an option: train.precision bf16)" if bf16 else "float32"}
    return TrainBench(table, pd.DataFrame(rates), losses, info)


def format_train_bench(bench: TrainBench) -> str:
    """The printed report: header, the parts table, the rates."""
    i = bench.info
    header = (f"Training step, {i['model']}, batch {i['batch']} × {i['seconds']:g} s ({i['frames']} frames), "
              f"median of {i['repeats']} after {i['warmup']} warm-up\n"
              f"{i['cpu']}, torch {i['torch']}, {i['threads']} thread(s)\n"
              f"ours = {i.get('ours', 'float32')}; straightforward = {i['straightforward']}")
    losses = ", ".join(f"{k} {v:.3f}" for k, v in bench.losses.items())
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        return (f"{header}\n\n{bench.steps.to_string(index=False, na_rep='—')}\n\nlast losses: {losses}\n\n"
                f"{bench.rates.to_string()}")


def bench_record(bench: TrainBench) -> dict:
    """The benchmark as JSON-ready data with its provenance (machine, torch, threads, commit, date)."""
    return {"info": bench.info, "steps": bench.steps.to_dict(orient="records"),
            "rates": bench.rates.to_dict(), "losses": bench.losses,
            "provenance": provenance(bench.info["threads"])}


def load_bench_record(path) -> TrainBench:
    """A record written by ``ddx7 bench train --out`` back as a TrainBench."""
    record = json.loads(Path(path).read_text())
    return TrainBench(pd.DataFrame(record["steps"]), pd.DataFrame(record["rates"]), record["losses"],
                      {**record["info"], "provenance": record["provenance"]})
