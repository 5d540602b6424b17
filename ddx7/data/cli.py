"""``ddx7 data ...``: build datasets from the rendered corpus, URMP or a folder.

    ddx7 data build  --profile {smoke,quick,full} [--instruments violin flute trumpet]
                     [--extractor {tiny,full,pyin}] [--analysis-hop N] [--soundfont PATH]
                     [--pieces SPEC ...] [--root data] [--force]
    ddx7 data urmp   --root PATH [--instruments ...] [--extractor ...] [--out data] [--profile urmp]
    ddx7 data folder --dir PATH --instrument NAME [--extractor ...] [--out data] [--profile folder]
    ddx7 data card   --profile full [--instruments ...] [--root data] [--results results]

The lead's ``ddx7/cli.py`` calls :func:`add_parser` on its subparsers and then ``args.func(args)``.
Standalone: ``python -m ddx7.data.cli build --profile smoke``. Exit status 2 with a one-line
message on bad input (:class:`~ddx7.data.errors.DataError`).
"""

from __future__ import annotations

import argparse
import sys

from .errors import DataError
from .features import F0_METHODS
from .instruments import INSTRUMENTS


def _summary(manifests: dict) -> None:
    for inst, m in manifests.items():
        st = m["stats"]
        t = m.get("build_info", {}).get("timings_s", {}).get("total_s")
        print(f"{m['profile']}/{inst}: {sum(st['excerpts'].values())} excerpts, "
              f"{st['minutes_total']:.2f} min (train {st['minutes']['train']:.2f} / valid "
              f"{st['minutes']['valid']:.2f} / test {st['minutes']['test']:.2f}), "
              f"f0 {m['extractor']['method']}, manifest {m['manifest_hash'][:12]}"
              + (f", built in {t:.1f} s" if t is not None else ""))


def _run(fn):
    def wrapped(args):
        try:
            manifests = fn(args)
        except DataError as err:
            print(f"ddx7 data: error: {err}", file=sys.stderr)
            return 2
        _summary(manifests)
        return 0

    return wrapped


@_run
def cmd_build(args):
    from .build import build_profile

    return build_profile(args.profile, args.instruments, extractor=args.extractor,
                         analysis_hop=args.analysis_hop, soundfont=args.soundfont,
                         pieces=args.pieces, root=args.root, force=args.force)


@_run
def cmd_urmp(args):
    from .urmp import build_urmp

    return build_urmp(args.urmp_root, args.instruments, extractor=args.extractor,
                      analysis_hop=args.analysis_hop, root=args.out, profile=args.profile,
                      force=args.force)


@_run
def cmd_folder(args):
    from .folder import build_folder

    return build_folder(args.dir, args.instrument, extractor=args.extractor,
                        analysis_hop=args.analysis_hop, root=args.out, profile=args.profile,
                        force=args.force)


def cmd_card(args):
    from .card import write_card

    try:
        for inst in args.instruments or list(INSTRUMENTS):
            out = write_card(args.profile, inst, root=args.root, results_root=args.results)
            size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
            print(f"{args.profile}/{inst}: data card {out} ({size:.1f} MB)")
    except DataError as err:
        print(f"ddx7 data: error: {err}", file=sys.stderr)
        return 2
    return 0


def _common(p, out_flag: str):
    p.add_argument("--extractor", choices=F0_METHODS, default=None,
                   help="f0 extractor (default: tiny; 'full' is the paper's CREPE, ~66 s per "
                        "4 s excerpt on a laptop CPU)")
    p.add_argument("--analysis-hop", type=int, default=None,
                   help="run the extractor every N samples and interpolate to hop 64")
    p.add_argument(out_flag, dest="out" if out_flag == "--out" else "root", default="data",
                   help="output root (default: data)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command (with build / urmp / folder) to an argparse subparsers object."""
    from .build import PROFILES

    data = subparsers.add_parser("data", help="build datasets (rendered corpus, URMP, folder)",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = data.add_subparsers(dest="data_command", metavar="{build,urmp,folder,card}")
    sub.required = True

    b = sub.add_parser("build", help="render the corpus of a profile and extract features")
    b.add_argument("--profile", choices=list(PROFILES), default="smoke")
    b.add_argument("--instruments", nargs="+", default=None, metavar="NAME",
                   help=f"default: all ({' '.join(INSTRUMENTS)})")
    b.add_argument("--soundfont", default=None,
                   help="SF2/SF3 file (default $DDX7_SOUNDFONT or FluidR3_GM.sf2)")
    b.add_argument("--pieces", nargs="+", default=None, metavar="SPEC",
                   help="music21 corpus lines, e.g. 'bach/bwv1.6@soprano' (default: catalog)")
    _common(b, "--root")
    b.set_defaults(func=cmd_build)

    u = sub.add_parser("urmp", help="URMP AuSep stems of vn / fl / tpt")
    u.add_argument("--root", dest="urmp_root", required=True, help="URMP folder (piece folders)")
    u.add_argument("--instruments", nargs="+", default=None, metavar="NAME")
    u.add_argument("--profile", default="urmp", help="output name under --out (default: urmp)")
    _common(u, "--out")
    u.set_defaults(func=cmd_urmp)

    f = sub.add_parser("folder", help="every audio file under a folder")
    f.add_argument("--dir", required=True)
    f.add_argument("--instrument", required=True, help="name of the output folder, e.g. cello")
    f.add_argument("--profile", default="folder", help="output name under --out (default: folder)")
    _common(f, "--out")
    f.set_defaults(func=cmd_folder)

    c = sub.add_parser("card", help="commit-sized summary of a built dataset for the data chapter")
    c.add_argument("--profile", default="full")
    c.add_argument("--instruments", nargs="+", default=None, metavar="NAME")
    c.add_argument("--root", default="data", help="where the dataset is built (default: data)")
    c.add_argument("--results", default="results", help="results root (default: results)")
    c.set_defaults(func=cmd_card)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddx7.data.cli")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "data":
        argv = ["data"] + argv
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
