"""The ``ddx7`` command line. Each feature module adds its own subcommand via ``add_parser``."""

from __future__ import annotations

import argparse
import math
import sys

from . import SAMPLE_RATE

MAX_RENDER_SECONDS = 600.0


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise CLIError(f"{what} must be finite numbers, got {text!r}")
    return values


def cmd_patches(args):
    from .synth import PATCHES

    rows = [("name", "instrument", "ops", "graph", "carriers", "ratios OP1..OPn")]
    for p in PATCHES.values():
        rows.append((p.name, p.instrument, str(p.n_ops), p.graph_str(), ", ".join(f"OP{c + 1}" for c in p.carriers),
                     ", ".join(f"{r:g}" for r in p.ratios)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def cmd_runs(args):
    import pandas as pd

    from .runs import describe_run, list_runs

    table = pd.DataFrame([describe_run(n, args.profile) for n in list_runs()]).set_index("run")
    print(f"profile {args.profile}:")
    print(table.to_string())


def render_note(patch: str, f0: float, seconds: float, imax, levels, ratios=None,
                sample_rate: int = SAMPLE_RATE):
    """A note with constant envelopes: operator k at levels[k] · max_ol. Returns float32 numpy audio."""
    import torch

    from .synth import FMSynth, get_patch

    p = get_patch(patch)
    if len(levels) != p.n_ops:
        raise ValueError(f"patch {p.name!r} has {p.n_ops} operators: give {p.n_ops} levels, got {len(levels)}")
    if any(lv < 0 for lv in levels):
        raise ValueError(f"levels must be >= 0, got {levels}")
    if not (math.isfinite(f0) and 0 < f0 < sample_rate / 2):
        raise ValueError(f"f0 must be between 0 and {sample_rate / 2:g} Hz, got {f0}")
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_RENDER_SECONDS):
        raise ValueError(f"--seconds must be between 0 and {MAX_RENDER_SECONDS:g}, got {seconds:g}")
    synth = FMSynth(p, imax, sample_rate)
    frames = max(1, round(seconds * sample_rate / synth.hop))
    f0_frames = torch.full((1, frames), float(f0))
    env = torch.tensor(levels, dtype=torch.float32).expand(1, frames, -1) * synth.max_ol
    with torch.no_grad():
        audio = synth.get_signal(f0_frames, env, ratios=ratios)[0]
    return audio.numpy()[: int(round(seconds * sample_rate))]


def cmd_render(args):
    from .audio_io import check_output, write_audio
    from .synth import get_patch

    check_output(args.output)
    patch = get_patch(args.patch)
    levels = _floats(args.levels, "--levels") if args.levels else [1.0] * patch.n_ops
    ratios = _floats(args.ratios, "--ratios") if args.ratios else None
    if ratios is not None and len(ratios) != patch.n_ops:
        raise CLIError(f"--ratios: patch {patch.name!r} has {patch.n_ops} operators, got {len(ratios)} ratios")
    audio = render_note(patch.name, args.f0, args.seconds, args.imax, levels, ratios)
    peak = float(abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:  # several carriers at full level sum above 1: scale rather than clip
        audio = audio * (0.99 / peak)
        print(f"note: peak {peak:.2f} > 1, scaled to 0.99", file=sys.stderr)
    write_audio(args.output, audio, SAMPLE_RATE)
    print(f"wrote {args.output}: {patch.name}, f0 {args.f0:g} Hz, {args.seconds:g} s, levels {levels}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddx7", description="DDX7: differentiable FM synthesis.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("patches", help="list the FM patches")
    p.set_defaults(func=cmd_patches)

    p = sub.add_parser("runs", help="list the experiment runs of Tables 1–4")
    p.add_argument("--profile", default="quick")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("render", help="render a note with constant envelopes")
    p.add_argument("--patch", default="2osc")
    p.add_argument("--f0", type=float, default=220.0, help="pitch in Hz")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--imax", default="2", help="maximum modulation index: a number, 2pi or 4pi")
    p.add_argument("--levels", help="envelope of each operator as a fraction of max_ol, e.g. 1,0.5")
    p.add_argument("--ratios", help="override the patch's frequency ratios, e.g. 1,1.414")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_render)

    for module in _feature_modules():
        module.add_parser(sub)
    return parser


def _feature_modules():
    import importlib

    names = ["ddx7.data.cli", "ddx7.train", "ddx7.eval.evaluate", "ddx7.resynth", "ddx7.stream_file", "ddx7.eval.bench",
             "ddx7.book"]
    return [importlib.import_module(name) for name in names]


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (CLIError, ValueError, OSError) as e:  # OSError: FileNotFoundError, PermissionError, a full disk
        print(f"ddx7 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ddx7 {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
