"""Building datasets: rendered corpus profiles, URMP stems, a folder of recordings.

    build_profile("quick", instruments=["violin"], extractor=None, soundfont=None, root="data")
    build_urmp("/path/to/URMP/Dataset", instruments=None, extractor=None, root="data")
    build_folder("/path/to/recordings", "cello", extractor=None, root="data")

Each returns {instrument: manifest}. All three go through the same steps: recordings -> paper
preprocessing (:mod:`ddx7.data.audio`) -> 4 s excerpts (:mod:`ddx7.data.excerpts`), then
(:mod:`ddx7.data.assemble`) features per excerpt (cached by audio hash and extractor in
``<root>/_cache/features``: :mod:`ddx7.data.feature_cache`) -> periodicity filter -> split by
piece -> split files + ``manifest.json`` in ``<root>/<profile>/<instrument>/``. A dataset whose
manifest records the same configuration is skipped ("up to date", :mod:`ddx7.data.manifest`);
``force=True`` rebuilds it (caches still apply).

Profiles (rendered corpus; minutes are kept excerpt audio per instrument):

* ``smoke``: 4 pieces x <= 8.5 s -> a handful of excerpts; for CI, ~15 s per instrument.
* ``quick``: >= 3 min from >= 8 pieces (<= 24 s each); under a minute per instrument.
* ``full``:  >= 21 min from >= 12 pieces (<= 120 s each); what the committed results use.

f0 extractor: CREPE "tiny" (torchcrepe, Viterbi, fmin 50, fmax 2000) in every profile. Against
the score's f0 of the rendered corpus it is as accurate as the paper's "full" model (raw pitch
accuracy ~99 % within 50 cents for both, median error ~7-11 cents for both, most of it the
samples' own tuning) at ~1/30 of the cost: ~1.6 s instead of ~50-66 s per 4 s excerpt on 2 CPU
cores. ``full`` runs it every 64 samples as the paper does; ``smoke`` and ``quick`` every 256
samples, interpolated to hop 64 (4x cheaper, same accuracy within 0.5 %). The measured table is
in every rendered-corpus manifest under ``f0_benchmark`` (:mod:`ddx7.data.f0_benchmark`);
``--extractor full --analysis-hop 64`` reproduces the paper's setting exactly. Periodicity
thresholds are calibrated per extractor (:data:`ddx7.data.instruments.PERIODICITY_OFFSET`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .. import HOP, SAMPLE_RATE
from . import audio as A
from . import render as R
from .assemble import DatasetTarget, assemble_dataset
from .dataset import load_manifest
from .errors import DataError
from .excerpts import Excerpt, excerpts_from_audio
from .features import F0_METHODS, extractor_settings
from .instruments import INSTRUMENTS, check_name, get_instrument
from .manifest import existing_build
from .progress import log, progress_bar
from .splits import SEED


@dataclass(frozen=True)
class Profile:
    name: str
    target_seconds: float  # kept excerpt audio per instrument to reach
    max_piece_seconds: float  # each piece is cut after this much performed time
    min_pieces: int
    max_pieces: int | None = None
    extractor: str = "tiny"
    analysis_hop: int = HOP
    # extractor benchmark against the score: (method, analysis_hop, number of excerpts)
    bench: tuple = ()


PROFILES = {
    "smoke": Profile("smoke", 20.0, 8.5, 4, 4, analysis_hop=256, bench=(("pyin", 256, 1),)),
    "quick": Profile("quick", 180.0, 24.0, 8, None, analysis_hop=256,
                     bench=(("tiny", HOP, 3), ("pyin", 256, 3))),
    "full": Profile("full", 21 * 60.0, 120.0, 12, None, analysis_hop=HOP,
                    bench=(("full", HOP, 2), ("full", 256, 4), ("tiny", 256, 12), ("pyin", HOP, 12),
                           ("pyin", 256, 12))),
}


def _choose_extractor(method, analysis_hop, profile: Profile | None):
    method = method or (profile.extractor if profile else "tiny")
    if method not in F0_METHODS:
        raise DataError(f"unknown f0 extractor {method!r}; choose one of {F0_METHODS}")
    ahop = int(analysis_hop or (profile.analysis_hop if profile else HOP))
    return method, ahop


def _instruments(instruments) -> list[str]:
    names = list(instruments or INSTRUMENTS)
    for n in names:
        get_instrument(n)
    return names


# --------------------------------------------------------------------------- rendered


def _render_excerpts(specs: list[str], prof: Profile, instrument: str, seed: int, soundfont: str,
                     cache_dir: Path) -> tuple[list[Excerpt], list, int]:
    """(excerpts, skipped, pieces used): pieces rendered in catalog order until the profile's
    target duration and piece count are reached."""
    excerpts: list[Excerpt] = []
    skipped: list = []
    used = 0
    total = 0.0
    bar = progress_bar(specs, desc=f"{prof.name}/{instrument} render", unit="piece")
    for spec in bar:
        # 15 % margin: the periodicity filter drops some excerpts after feature extraction
        if (total >= 1.15 * prof.target_seconds and used >= prof.min_pieces) or (
                prof.max_pieces and used >= prof.max_pieces):
            break
        try:
            rp = R.cached_render(spec, instrument, seed, soundfont, prof.max_piece_seconds, cache_dir)
            A.check_audio(rp.audio, f"{rp.piece} ({spec})")
        except DataError as err:
            log(f"skipped: {err}")
            skipped.append({"file": spec, "reason": str(err)})
            continue
        x = A.peak_normalise(rp.audio)
        ex = excerpts_from_audio(x, rp.piece, rp.source, rp.piece, rp.f0_true, rp.f0_mask)
        if not ex:
            skipped.append({"file": spec, "reason": f"{spec}: no excerpt longer than "
                                                     f"{A.MIN_SECONDS:g} s"})
            continue
        excerpts.extend(ex)
        used += 1
        total += sum(e.n_valid for e in ex) / SAMPLE_RATE
    bar.close()
    if total < prof.target_seconds:
        log(f"warning: {prof.name}/{instrument}: only {total / 60:.1f} min of excerpts from "
            f"{used} pieces (target {prof.target_seconds / 60:.1f} min): add pieces")
    return excerpts, skipped, used


def build_rendered(
    profile: str | Profile,
    instrument: str,
    *,
    extractor: str | None = None,
    analysis_hop: int | None = None,
    soundfont: str | None = None,
    pieces: list[str] | None = None,
    seed: int = SEED,
    root="data",
    force: bool = False,
) -> dict:
    """Build one instrument of a rendered-corpus profile (see module docstring)."""
    t_start = time.perf_counter()
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    if prof is None:
        raise DataError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")
    get_instrument(instrument)
    method, ahop = _choose_extractor(extractor, analysis_hop, prof)
    sf_path = R.find_soundfont(soundfont)
    R.find_fluidsynth()
    specs = list(pieces or R.load_catalog()[instrument])
    sf_stat = Path(sf_path).stat()
    config = {
        "source": "rendered", "profile": asdict(prof), "instrument": instrument,
        "pieces": specs, "seed": seed, "render_version": R.RENDER_VERSION,
        "soundfont": {"name": Path(sf_path).name, "bytes": sf_stat.st_size},
        "extractor": extractor_settings(method, ahop),
    }
    target = DatasetTarget(prof.name, instrument, "rendered", config, method, ahop, Path(root),
                           bench_plan=prof.bench)
    done = existing_build(target.out_dir, config, target.label, force)
    if done is not None:
        return done

    t0 = time.perf_counter()
    excerpts, skipped, used = _render_excerpts(specs, prof, instrument, seed, sf_path, target.cache_dir)
    render_s = time.perf_counter() - t0
    target = replace(target, extra={"render": {
        "soundfont": sf_path, "seed": seed, "pieces_used": used,
        "engine": "fluidsynth (reverb and chorus off), 44.1 kHz -> soxr 16 kHz",
        "model": "ddx7.data.render (see its docstring)"}})
    return assemble_dataset(excerpts, skipped, target, {"render_s": render_s}, t_start)


def build_profile(profile: str, instruments=None, *, extractor=None, analysis_hop=None,
                  soundfont=None, pieces=None, root="data", force=False) -> dict:
    """Build (or skip, if up to date) every instrument of a rendered-corpus profile."""
    if profile not in PROFILES:
        raise DataError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")
    names = _instruments(instruments)
    out = {}
    for inst in names:
        out[inst] = build_rendered(profile, inst, extractor=extractor, analysis_hop=analysis_hop,
                                   soundfont=soundfont, pieces=pieces, root=root, force=force)
    return out


def ensure_built(profile: str, instrument: str, root="data", **kw) -> dict:
    """The manifest of ``profile``/``instrument``, building it first if needed (rendered
    profiles; a URMP or folder dataset must have been built with its own command)."""
    if profile not in PROFILES:
        return load_manifest(profile, instrument, root)
    return build_rendered(profile, instrument, root=root, **kw)


# ------------------------------------------------------------------------- recordings


def _file_signature(paths, base: Path) -> list:
    sig = []
    for p in paths:
        st = p.stat()
        sig.append([str(p.relative_to(base)), st.st_size, int(st.st_mtime)])
    return sig


def _read_excerpts(files: list[tuple[Path, str]], base: Path, label: str) -> tuple[list[Excerpt], list]:
    """(excerpts, skipped) of recordings [(path, piece)]; an unusable file is skipped with its reason."""
    excerpts: list[Excerpt] = []
    skipped: list = []
    for path, piece in progress_bar(files, desc=f"{label} read", unit="file"):
        rel = str(path.relative_to(base))
        try:
            rec = A.load_recording(path)
            ex = excerpts_from_audio(rec.audio, piece, rel, Path(rel).with_suffix("").as_posix())
            if not ex:
                raise DataError(f"{path}: no excerpt longer than {A.MIN_SECONDS:g} s after "
                                f"silence removal ({rec.seconds:.2f} s of audio)")
            for w in rec.warnings:
                log(f"warning: {w}")
            excerpts.extend(ex)
        except DataError as err:
            log(f"skipped: {err}")
            skipped.append({"file": rel, "reason": str(err)})
    return excerpts, skipped


def build_recordings(
    files: list[tuple[Path, str]],
    *,
    base: Path,
    profile: str,
    instrument: str,
    source: str,
    extractor=None,
    analysis_hop=None,
    root="data",
    force=False,
    extra_config=None,
) -> dict:
    """Files [(path, piece)] -> dataset ``root/profile/instrument`` (URMP and folder sources)."""
    t_start = time.perf_counter()
    check_name(profile)
    check_name(instrument)
    method, ahop = _choose_extractor(extractor, analysis_hop, None)
    config = {"source": source, "instrument": instrument, "base": str(base.resolve()),
              "files": _file_signature([f for f, _ in files], base),
              "extractor": extractor_settings(method, ahop), **(extra_config or {})}
    target = DatasetTarget(profile, instrument, source, config, method, ahop, Path(root))
    done = existing_build(target.out_dir, config, target.label, force)
    if done is not None:
        return done
    t0 = time.perf_counter()
    excerpts, skipped = _read_excerpts(files, base, target.label)
    read_s = time.perf_counter() - t0
    return assemble_dataset(excerpts, skipped, target, {"read_s": read_s}, t_start)
