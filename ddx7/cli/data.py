"""``ddx7 data ...``: build datasets from the rendered corpus, URMP or a folder.

    ddx7 data build  --profile {smoke,quick,full} [--instruments violin flute trumpet]
                     [--extractor {tiny,full,pyin}] [--analysis-hop N] [--soundfont PATH]
                     [--pieces SPEC ...] [--root data] [--force]
    ddx7 data urmp   --root PATH [--instruments ...] [--extractor ...] [--out data] [--profile urmp]
    ddx7 data folder --dir PATH --instrument NAME [--extractor ...] [--out data] [--profile folder]
    ddx7 data card   --profile full [--instruments ...] [--root data] [--results results]

Bad input stops with a one-line message naming the file, piece or setting
(:class:`~ddx7.data.errors.DataError`), exit status 2.
"""

from __future__ import annotations

import argparse

from ..data.build import PROFILES, build_profile
from ..data.card import write_card
from ..data.features import F0_METHODS
from ..data.folder import build_folder
from ..data.instruments import INSTRUMENTS
from ..data.urmp import build_urmp


def print_summary(manifests: dict) -> None:
    """One line per built instrument: excerpts, minutes per split, f0 extractor, manifest hash, build time."""
    for inst, m in manifests.items():
        st = m["stats"]
        t = m.get("build_info", {}).get("timings_s", {}).get("total_s")
        print(f"{m['profile']}/{inst}: {sum(st['excerpts'].values())} excerpts, "
              f"{st['minutes_total']:.2f} min (train {st['minutes']['train']:.2f} / valid "
              f"{st['minutes']['valid']:.2f} / test {st['minutes']['test']:.2f}), "
              f"f0 {m['extractor']['method']}, manifest {m['manifest_hash'][:12]}"
              + (f", built in {t:.1f} s" if t is not None else ""))


def cmd_build(args):
    print_summary(build_profile(args.profile, args.instruments, extractor=args.extractor,
                                analysis_hop=args.analysis_hop, soundfont=args.soundfont,
                                pieces=args.pieces, root=args.root, force=args.force))


def cmd_urmp(args):
    print_summary(build_urmp(args.urmp_root, args.instruments, extractor=args.extractor,
                             analysis_hop=args.analysis_hop, root=args.out, profile=args.profile,
                             force=args.force))


def cmd_folder(args):
    print_summary(build_folder(args.dir, args.instrument, extractor=args.extractor,
                               analysis_hop=args.analysis_hop, root=args.out, profile=args.profile,
                               force=args.force))


def cmd_card(args):
    for inst in args.instruments or list(INSTRUMENTS):
        out = write_card(args.profile, inst, root=args.root, results_root=args.results)
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(f"{args.profile}/{inst}: data card {out} ({size:.1f} MB)")


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
    """Add the ``data`` command (with build / urmp / folder / card) to an argparse subparsers object."""
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
