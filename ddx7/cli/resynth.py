"""``ddx7 resynth``: resynthesize a recording with a trained model (:func:`ddx7.resynth.resynth_file`)."""

from __future__ import annotations

from ..resynth import MAX_PITCH_SHIFT, ModelChoice, limited_note, resynth_file
from .arguments import comma_floats


def add_recording_arguments(p):
    """What ``resynth`` and ``stream`` share: the recording, the model, the FM interventions, the output."""
    p.add_argument("input", help="a recording (any format and rate soundfile or audioread reads)")
    p.add_argument("--run", help="run name (see `ddx7 runs`)")
    p.add_argument("--checkpoint", help="a checkpoint file (as written by `ddx7 train`) instead of --run")
    p.add_argument("--profile", default=None,
                   help="whose trained model to use with --run (default: full, quick, smoke)")
    p.add_argument("--ratios", help="new FM ratios, one per operator, e.g. 1,3,1,3,3,14")
    p.add_argument("--env-gain", help="envelope gain per operator, e.g. 1,2,2,2,2,2")
    p.add_argument("-o", "--output", required=True, help="the result: .wav, .flac, .ogg, .mp3 or .aiff (not the input)")


def model_choice(args) -> ModelChoice:
    """The model and interventions of :func:`add_recording_arguments`' options."""
    return ModelChoice(args.run, args.checkpoint, args.profile, ratios=comma_floats(args.ratios, "--ratios"),
                       env_gain=comma_floats(args.env_gain, "--env-gain"))


def add_parser(sub):
    p = sub.add_parser("resynth", help="resynthesize a recording with a trained model")
    add_recording_arguments(p)
    p.add_argument("--extractor", default=None, help="f0 extractor: full, tiny or pyin (default: the run's)")
    p.add_argument("--pitch-shift", type=float, default=0.0, help=f"semitones (±{MAX_PITCH_SHIFT:g})")
    p.add_argument("--loudness-shift", type=float, default=0.0, help="dB")
    p.set_defaults(func=cmd_resynth)


def cmd_resynth(args):
    info = resynth_file(args.input, model=model_choice(args), output=args.output, extractor=args.extractor,
                        pitch_shift=args.pitch_shift, loudness_shift=args.loudness_shift)
    print(f"wrote {args.output}: {info['seconds']:.2f} s{limited_note(info)}")
