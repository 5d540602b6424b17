"""DDX7 and the HpN baseline behind one interface.

    controls = model.get_controls(f0_hz, loudness_db)   # frame-rate [B, T] inputs
    audio    = model.get_signal(controls)                # [B, T · hop]
    audio    = model(f0_hz, loudness_db)                 # both

``model.config`` is a plain dict from which ``build_model`` makes the same architecture again.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import HOP, SAMPLE_RATE
from ..synth.fm import FMSynth, apply_env_gain, check_f0
from ..synth.harmonic import harmonic_amplitudes, render_hpn, scaled_sigmoid
from ..synth.patches import get_patch, parse_imax
from .layers import GRU, Linear, autocast_off
from .reverb import Reverb
from .tcn import InputScaling, TCNDecoder


def check_inputs(f0_hz: torch.Tensor, loudness_db: torch.Tensor):
    if f0_hz.dim() != 2 or loudness_db.dim() != 2:
        raise ValueError(f"f0 and loudness must be [batch, frames]; got {tuple(f0_hz.shape)} and "
                         f"{tuple(loudness_db.shape)}")
    if f0_hz.shape != loudness_db.shape:
        raise ValueError(f"f0 has {tuple(f0_hz.shape)} frames but loudness has {tuple(loudness_db.shape)}")
    check_f0(f0_hz)
    if not torch.isfinite(loudness_db).all():
        raise ValueError("loudness contains NaN or infinite values")


class DDX7(nn.Module):
    """TCN decoder → envelopes of a fixed-patch FM synth → learnable reverb."""

    def __init__(self, patch="violin-6osc", imax=2.0, hidden: int = 128, kernel: int = 3,
                 dilations=(1, 2, 4, 8, 16), dropout: float = 0.5, reverb: bool = True,
                 sample_rate: int = SAMPLE_RATE, hop: int = HOP, init: dict | None = None,
                 reverb_max_energy: float | None = None, reverb_seconds: float | None = None, oversample: int = 1,
                 decimation: dict | None = None):
        """``reverb_max_energy`` and ``reverb_seconds`` (deviations from the paper, off by default) bound the learned
        reverb's tail energy and cut its impulse response (1 s in the paper) to this length; ``oversample`` renders
        the FM at that multiple of the sample rate (ddx7.synth.oversample: no partials folded at Nyquist) and
        ``decimation`` sets its low-pass filter."""
        super().__init__()
        patch = get_patch(patch)
        self.config = dict(model="ddx7", patch=patch.name, imax=parse_imax(imax), hidden=hidden, kernel=kernel,
                           dilations=list(dilations), dropout=dropout, reverb=reverb,
                           sample_rate=sample_rate, hop=hop)
        if init is not None:
            self.config["init"] = dict(init)
        self.synth = FMSynth(patch, imax, sample_rate, hop, oversample, decimation)
        if self.synth.oversample > 1:
            self.config["oversample"] = self.synth.oversample
        if self.synth.decimation:
            self.config["decimation"] = dict(self.synth.decimation)
        self.decoder = TCNDecoder(patch.n_ops, hidden, kernel, dilations, dropout)
        if init is not None:
            unknown = set(init) - {"carrier", "modulator", "gain"}
            if unknown:
                raise ValueError(f"model.init takes carrier, modulator and gain, got {sorted(unknown)}")
            bias = output_bias(patch, init.get("carrier", 0.0), init.get("modulator", 0.0))
            self.decoder.init_output(bias, init.get("gain", 1.0))
        self.reverb = make_reverb(self.config, reverb, sample_rate, reverb_seconds, reverb_max_energy)
        self.hop = hop
        self.sample_rate = sample_rate

    @property
    def patch(self):
        return self.synth.patch

    def get_controls(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> dict:
        """Under ``torch.autocast`` the decoder runs in its dtype (bf16); the envelopes come out in f0's dtype."""
        check_inputs(f0_hz, loudness_db)
        logits = self.decoder(f0_hz, loudness_db).to(f0_hz.dtype)
        with autocast_off(f0_hz):
            return {"f0_hz": f0_hz, "envelopes": self.synth.get_controls(logits)}

    def get_signal(self, controls: dict, ratios=None, env_gain=None) -> torch.Tensor:
        """Float32 (float64 phases) even under ``torch.autocast``: the synth and reverb are never cast."""
        with autocast_off(controls["f0_hz"]):
            audio = self.synth.get_signal(controls["f0_hz"], controls["envelopes"], ratios, env_gain)
            return self.reverb(audio) if self.reverb is not None else audio

    def forward(self, f0_hz, loudness_db, ratios=None, env_gain=None) -> torch.Tensor:
        return self.get_signal(self.get_controls(f0_hz, loudness_db), ratios, env_gain)


def make_reverb(config: dict, enabled: bool, sample_rate: int, seconds: float | None = None,
                max_energy: float | None = None) -> Reverb | None:
    """The model's learned reverb (None when disabled): the paper's 1 s impulse response, or ``seconds`` long,
    its tail bounded by ``max_energy`` (both deviations from the paper, recorded in ``config`` when set)."""
    if seconds is not None:
        if not 0 < seconds <= 4:
            raise ValueError(f"model.reverb_seconds must be in (0, 4] s, got {seconds}")
        config["reverb_seconds"] = seconds
    if max_energy is not None:
        config["reverb_max_energy"] = max_energy
    if not enabled:
        return None
    return Reverb(round(sample_rate * (seconds or 1.0)), sample_rate, max_energy=max_energy)


def output_bias(patch, carrier: float = 0.0, modulator: float = 0.0) -> torch.Tensor:
    """The decoder's initial logit per operator: ``carrier`` for the carriers, ``modulator`` for the
    rest (e.g. −2 and −4: the synth starts as a quiet, nearly pure tone, not as broadband noise)."""
    return torch.tensor([carrier if k in patch.carriers else modulator for k in range(patch.n_ops)])


def _mlp(n_in: int, width: int, layers: int = 3) -> nn.Sequential:
    mods = []
    for i in range(layers):
        mods += [Linear(n_in if i == 0 else width, width), nn.LayerNorm(width), nn.LeakyReLU()]
    return nn.Sequential(*mods)


class HpN(nn.Module):
    """Harmonic-plus-noise baseline: the DDSP decoder (MLPs → GRU → MLP → heads) + its synth + reverb."""

    def __init__(self, hidden: int = 512, n_harmonics: int = 60, n_noise_bands: int = 65, reverb: bool = True,
                 sample_rate: int = SAMPLE_RATE, hop: int = HOP, reverb_seconds: float | None = None):
        super().__init__()
        self.config = dict(model="hpn", hidden=hidden, n_harmonics=n_harmonics, n_noise_bands=n_noise_bands,
                           reverb=reverb, sample_rate=sample_rate, hop=hop)
        self.inputs = InputScaling()
        self.f0_mlp = _mlp(1, hidden)
        self.loudness_mlp = _mlp(1, hidden)
        self.gru = GRU(2 * hidden, hidden)
        self.out_mlp = _mlp(hidden + 2, hidden)
        self.harmonic_head = Linear(hidden, n_harmonics + 1)
        self.noise_head = Linear(hidden, n_noise_bands)
        self.reverb = make_reverb(self.config, reverb, sample_rate, reverb_seconds)
        self.hop = hop
        self.sample_rate = sample_rate

    def decode(self, f0_hz, loudness_db, state=None):
        """Decoder only: → (harmonic head, noise head, GRU state); ``state`` continues a stream."""
        f0_s, ld_s = self.inputs.f0(f0_hz)[..., None], self.inputs.loudness(loudness_db)[..., None]
        hidden, state = self.gru(torch.cat([self.f0_mlp(f0_s), self.loudness_mlp(ld_s)], -1), state)
        hidden = self.out_mlp(torch.cat([hidden, f0_s, ld_s], -1))
        return self.harmonic_head(hidden), self.noise_head(hidden), state

    def controls_from_heads(self, f0_hz, harm, noise) -> dict:
        harm, noise = harm.to(f0_hz.dtype), noise.to(f0_hz.dtype)  # bf16 under autocast
        harm = scaled_sigmoid(harm)
        amps = harmonic_amplitudes(f0_hz, harm[..., :1], harm[..., 1:], self.sample_rate)
        return {"f0_hz": f0_hz, "harmonic_amplitudes": amps, "noise_magnitudes": scaled_sigmoid(noise - 5.0)}

    def get_controls(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> dict:
        check_inputs(f0_hz, loudness_db)
        harm, noise, _ = self.decode(f0_hz, loudness_db)
        return self.controls_from_heads(f0_hz, harm, noise)

    def get_signal(self, controls: dict, noise: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Float32 even under ``torch.autocast`` (see DDX7.get_signal)."""
        with autocast_off(controls["f0_hz"]):
            audio = render_hpn(controls["f0_hz"], controls["harmonic_amplitudes"], controls["noise_magnitudes"],
                               self.hop, self.sample_rate, noise=noise, generator=generator)
            return self.reverb(audio) if self.reverb is not None else audio

    def forward(self, f0_hz, loudness_db, noise=None, generator=None) -> torch.Tensor:
        return self.get_signal(self.get_controls(f0_hz, loudness_db), noise, generator)


def build_model(config: dict) -> nn.Module:
    """Make a model from its ``config`` dict (as stored in checkpoints)."""
    config = dict(config)
    kind = config.pop("model", None)
    if kind == "ddx7":
        return DDX7(**config)
    if kind == "hpn":
        return HpN(**config)
    raise ValueError(f"unknown model kind {kind!r} in config; expected 'ddx7' or 'hpn'")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["DDX7", "HpN", "build_model", "count_parameters", "apply_env_gain"]
