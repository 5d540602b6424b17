"""Resynthesis of any recording with a trained model: f0 + loudness → model → audio.

    ddx7 resynth voice.wav --run violin-6osc-imax2 --pitch-shift -12 --ratios 1,3,1,3,3,14 -o out.wav

The recording is read in any common format and rate (downmixed, resampled to 16 kHz, peak
normalised as the training data was), its f0 and loudness are extracted with the extractor the
run's dataset used, shifted as asked, and rendered, optionally with interventions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import SAMPLE_RATE

MIN_VOICED_FRACTION = 0.05  # below this the input has no usable pitch
VOICED_PERIODICITY = 0.5


def find_checkpoint(run: str, profile: str | None = None, results_root="results", checkpoint_root=None) -> Path:
    """The shipped model (results/<profile>/<run>/model.pt) or the training checkpoint (best.pt)."""
    from .train import run_dir

    profiles = [profile] if profile else ["full", "quick", "smoke"]
    tried = []
    for p in profiles:
        for path in (Path(results_root) / p / run / "model.pt", run_dir(run, p, checkpoint_root) / "best.pt"):
            if path.exists():
                return path
            tried.append(str(path))
    raise FileNotFoundError(f"no trained model for run {run!r}; looked for: {', '.join(tried)}. "
                            f"Train it with `ddx7 train {run} --profile {profiles[0]}`.")


def fill_unvoiced(f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Unvoiced frames hold the last voiced pitch (leading ones take the first): the synth needs f0 > 0."""
    if not voiced.any():
        raise ValueError("no voiced frame to take a pitch from")
    last = np.maximum.accumulate(np.where(voiced, np.arange(len(f0)), -1))
    last[last < 0] = np.argmax(voiced)
    return f0[last].astype(np.float32)


def features(audio: np.ndarray, extractor: str = "pyin", name: str = "input"):
    """(f0_hz, loudness_db, periodicity) per frame for mono 16 kHz audio, unvoiced frames filled."""
    from .data.features import extract_f0, loudness_db

    f0, periodicity = extract_f0(audio, method=extractor)
    voiced = periodicity >= VOICED_PERIODICITY
    if voiced.mean() < MIN_VOICED_FRACTION:
        raise ValueError(f"{name}: no pitched sound found ({100 * voiced.mean():.1f} % of frames voiced; "
                         f"need {100 * MIN_VOICED_FRACTION:.0f} %)")
    return fill_unvoiced(f0, voiced), loudness_db(audio).astype(np.float32), periodicity


@torch.no_grad()
def resynthesize(model, f0_hz: np.ndarray, loudness_db: np.ndarray, pitch_shift: float = 0.0,
                 loudness_shift: float = 0.0, ratios=None, env_gain=None) -> np.ndarray:
    """Render frame-rate controls through a model, with pitch/loudness shifts and FM interventions."""
    from .models import DDX7

    f0 = torch.as_tensor(f0_hz, dtype=torch.float32)[None] * 2 ** (pitch_shift / 12)
    ld = torch.as_tensor(loudness_db, dtype=torch.float32)[None] + loudness_shift
    ld = ld.clamp(-80.0, 0.0)
    if (ratios is not None or env_gain is not None) and not isinstance(model, DDX7):
        raise ValueError("--ratios and --env-gain are FM interventions: they need a DDX7 run, not HpN")
    extra = {"ratios": ratios, "env_gain": env_gain} if isinstance(model, DDX7) else {}
    return model(f0, ld, **extra)[0].numpy()


def resynth_file(path, run: str | None = None, checkpoint=None, profile=None, output=None, extractor=None,
                 pitch_shift=0.0, loudness_shift=0.0, ratios=None, env_gain=None) -> np.ndarray:
    from .audio_io import write_wav
    from .data.audio import peak_normalise, read_audio
    from .train import load_model

    ckpt_path = Path(checkpoint) if checkpoint else find_checkpoint(run, profile)
    model, ckpt = load_model(ckpt_path)
    n_ops = model.patch.n_ops if hasattr(model, "patch") else None
    for what, values in (("--ratios", ratios), ("--env-gain", env_gain)):
        if values is not None and n_ops is not None and len(values) != n_ops:
            raise ValueError(f"{what}: patch {model.patch.name!r} has {n_ops} operators, got {len(values)} values")
    audio, _, _ = read_audio(path, SAMPLE_RATE)
    extractor = extractor or ckpt.get("extractor") or "pyin"
    f0, ld, _ = features(peak_normalise(audio), extractor, str(path))
    out = resynthesize(model, f0, ld, pitch_shift, loudness_shift, ratios, env_gain)
    peak = float(np.abs(out).max())
    if peak > 1.0:
        out = out * (0.99 / peak)
    if output:
        write_wav(output, out, SAMPLE_RATE)
    return out


def add_parser(sub):
    p = sub.add_parser("resynth", help="resynthesize a recording with a trained model")
    p.add_argument("input")
    p.add_argument("--run", help="run name (see `ddx7 runs`)")
    p.add_argument("--checkpoint", help="a checkpoint file instead of --run")
    p.add_argument("--profile", default=None, help="whose trained model to use (default: full, quick, smoke)")
    p.add_argument("--extractor", default=None, help="f0 extractor: full, tiny or pyin (default: the run's)")
    p.add_argument("--pitch-shift", type=float, default=0.0, help="semitones")
    p.add_argument("--loudness-shift", type=float, default=0.0, help="dB")
    p.add_argument("--ratios", help="new FM ratios, one per operator, e.g. 1,3,1,3,3,14")
    p.add_argument("--env-gain", help="envelope gain per operator, e.g. 1,2,2,2,2,2")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_resynth)


def cmd_resynth(args):
    from .cli import _floats

    if bool(args.run) == bool(args.checkpoint):
        raise ValueError("give --run RUN or --checkpoint PATH")
    ratios = _floats(args.ratios, "--ratios") if args.ratios else None
    gains = _floats(args.env_gain, "--env-gain") if args.env_gain else None
    out = resynth_file(args.input, args.run, args.checkpoint, args.profile, args.output, args.extractor,
                       args.pitch_shift, args.loudness_shift, ratios, gains)
    print(f"wrote {args.output}: {len(out) / SAMPLE_RATE:.2f} s")
