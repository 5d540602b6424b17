"""``ddx7 stream``: a recording rendered block by block, as a live input would be
(:func:`ddx7.stream_file.stream_file`)."""

from __future__ import annotations

from ..resynth import limited_note
from ..stream_file import stream_file
from .resynth import add_recording_arguments, model_choice


def add_parser(sub):
    p = sub.add_parser("stream", help="render a recording block by block (streaming, causal features)")
    add_recording_arguments(p)
    p.add_argument("--block-ms", type=float, default=4.0, help="block length in ms, a multiple of 4 (default 4)")
    p.add_argument("--features", choices=("causal", "offline"), default="causal",
                   help="causal: loudness + YIN f0 from past samples only, block by block (default); "
                        "offline: the dataset's centred features of the whole file, computed first")
    p.add_argument("--extractor", default="pyin", help="f0 extractor for --features offline: pyin, tiny or full")
    p.add_argument("--compiled", action="store_true", help="use the TorchScript streaming DDX7")
    p.add_argument("--native", action="store_true",
                   help="use the C streaming DDX7 (compiled with the machine's cc on first use; the fastest)")
    p.add_argument("--no-normalise", action="store_true", help="do not peak-normalise the input first")
    p.add_argument("--threads", type=int, default=1, help="torch threads while streaming (default 1)")
    p.set_defaults(func=cmd_stream)


def cmd_stream(args):
    info = stream_file(args.input, model=model_choice(args), output=args.output, block_ms=args.block_ms,
                       features=args.features, extractor=args.extractor, compiled=args.compiled,
                       native=args.native, normalise=not args.no_normalise, threads=args.threads)
    lag = info.get("feature_lag_ms")
    extra = (f"; causal features (no look-ahead), windows centred {lag['loudness']:.0f} ms (loudness) / "
             f"{lag['f0']:.0f} ms (f0) in the past" if lag else f"; {info.get('note', '')}")
    print(f"wrote {args.output}: {info['seconds']:.2f} s in {args.block_ms:g} ms blocks, real-time factor "
          f"{info['rtf']:.3f} (features + model){extra}{limited_note(info)}")
