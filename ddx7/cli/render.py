"""``ddx7 render``: one note of a patch with constant envelopes, no trained model."""

from __future__ import annotations

import sys

from .. import SAMPLE_RATE
from ..audio_io import check_output, write_audio
from ..synth import get_patch
from ..synth.demo import render_note
from .arguments import CLIError, comma_floats


def add_parser(sub):
    p = sub.add_parser("render", help="render a note with constant envelopes")
    p.add_argument("--patch", default="2osc")
    p.add_argument("--f0", type=float, default=220.0, help="pitch in Hz")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--imax", default="2", help="maximum modulation index: a number, 2pi or 4pi")
    p.add_argument("--levels", help="envelope of each operator as a fraction of max_ol, e.g. 1,0.5")
    p.add_argument("--ratios", help="override the patch's frequency ratios, e.g. 1,1.414")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_render)


def cmd_render(args):
    check_output(args.output)
    patch = get_patch(args.patch)
    levels = comma_floats(args.levels, "--levels") or [1.0] * patch.n_ops
    ratios = comma_floats(args.ratios, "--ratios")
    if ratios is not None and len(ratios) != patch.n_ops:
        raise CLIError(f"--ratios: patch {patch.name!r} has {patch.n_ops} operators, got {len(ratios)} ratios")
    audio = render_note(patch.name, args.f0, args.seconds, args.imax, levels, ratios)
    peak = float(abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:  # several carriers at full level sum above 1: scale rather than clip
        audio = audio * (0.99 / peak)
        print(f"note: peak {peak:.2f} > 1, scaled to 0.99", file=sys.stderr)
    write_audio(args.output, audio, SAMPLE_RATE)
    print(f"wrote {args.output}: {patch.name}, f0 {args.f0:g} Hz, {args.seconds:g} s, levels {levels}")
