"""URMP reader on a tiny fixture in URMP's layout, built by the test."""


import numpy as np
import pytest
import soundfile as sf

from ddx7 import SAMPLE_RATE
from ddx7.data import DataError, ExcerptDataset, load_manifest, load_split
from ddx7.data.urmp import build_urmp, find_stems

SR = 48000  # URMP stems are 48 kHz WAV


def phrase(seed, seconds, f_lo=200.0, f_hi=700.0, sr=SR, gaps=False):
    """A vibrato melody of harmonic tones, with an optional silent gap."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    note_len = int(0.5 * sr)
    f = np.repeat(rng.uniform(f_lo, f_hi, n // note_len + 1), note_len)[:n]
    f = f * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * t))
    ph = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 8)) * 0.2
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t + seed) ** 2
    if gaps:
        x[int(1.0 * sr): int(1.6 * sr)] = 0
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def urmp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("URMP") / "Dataset"
    pieces = {
        "01_Jupiter_vn_vc": [("1", "vn", 9.0), ("2", "vc", 5.0)],
        "02_Sonata_vn_vn": [("1", "vn", 4.6), ("2", "vn", 5.0)],
        "03_Dance_fl_cl": [("1", "fl", 5.0), ("2", "cl", 5.0)],
        "04_Air_vn_tpt": [("1", "vn", 5.5), ("2", "tpt", 2.0)],
        "05_March_vn": [("1", "vn", 4.5)],
    }
    for k, (folder, stems) in enumerate(pieces.items()):
        d = root / folder
        d.mkdir(parents=True)
        num, name = folder.split("_")[:2]
        for track, code, secs in stems:
            x = phrase(10 * k + int(track), secs, gaps=(folder.startswith("01") and track == "1"))
            sf.write(d / f"AuSep_{track}_{code}_{num}_{name}.wav", x, SR)
        sf.write(d / f"AuMix_{folder}.wav", np.zeros(SR, np.float32), SR)  # ignored
    return root


def test_find_stems(urmp_root):
    vn = find_stems(urmp_root, "violin")
    assert [p.name for p, _ in vn] == [
        "AuSep_1_vn_01_Jupiter.wav", "AuSep_1_vn_02_Sonata.wav", "AuSep_2_vn_02_Sonata.wav",
        "AuSep_1_vn_04_Air.wav", "AuSep_1_vn_05_March.wav"]
    assert {piece for _, piece in vn} == {"01_Jupiter_vn_vc", "02_Sonata_vn_vn",
                                          "04_Air_vn_tpt", "05_March_vn"}
    with pytest.raises(DataError, match="unknown instrument"):
        find_stems(urmp_root, "cello")


def test_urmp_round_trip(urmp_root, tmp_path):
    out = build_urmp(urmp_root, ["violin", "flute"], extractor="pyin", analysis_hop=256,
                     root=tmp_path)
    assert set(out) == {"violin", "flute"}
    man = load_manifest("urmp", "violin", tmp_path)
    assert man["source"] == "urmp" and man["extractor"]["method"] == "pyin"
    ex = man["excerpts"]
    # Jupiter stem: 9 s with a 0.6 s gap at 1.0 s -> [0, 1.0] dropped (<= 3 s), then 7.4 s ->
    # one 4 s excerpt and a 3.4 s one (kept, padded). Sonata: 4.6 s and 5.0 s -> one each
    # (+ remainders < 3 s dropped). Air 5.5 s -> 1, March 4.5 s -> 1.
    jup = [e for e in ex if e["piece"] == "01_Jupiter_vn_vc"]
    assert len(jup) == 2
    assert sorted(e["n_valid"] for e in jup)[1] == 64000
    assert 3.0 * SAMPLE_RATE < sorted(e["n_valid"] for e in jup)[0] < 64000
    assert all(e["offset_s"] >= 1.0 for e in jup)
    assert len(ex) == 6
    # splits disjoint by piece, and both Sonata stems in one split
    seen = {}
    for s in ("train", "valid", "test"):
        d = load_split("urmp", "violin", s, tmp_path)
        n = len(d["excerpt_id"])
        assert d["audio"].shape == (n, 64000) and d["f0_hz"].shape == (n, 1000)
        assert d["loudness_db"].shape == d["periodicity"].shape == (n, 1000)
        assert d["audio"].dtype == np.float32
        for p in set(d["piece"]):
            assert p not in seen, f"piece {p} in {seen.get(p)} and {s}"
            seen[p] = s
        if n:
            assert np.abs(d["audio"]).max() <= 1.0 + 1e-6
            pad = d["n_valid"].min()
            i = int(np.argmin(d["n_valid"]))
            assert np.all(d["audio"][i, pad:] == 0)  # zero padded after n_valid
            assert d["manifest_hash"] == man["manifest_hash"]
    assert set(seen) == {"01_Jupiter_vn_vc", "02_Sonata_vn_vn", "04_Air_vn_tpt", "05_March_vn"}
    assert set(seen.values()) == {"train", "valid", "test"}
    # f0 of the extracted excerpts lies in the fixture's range (200-700 Hz +- vibrato)
    d = load_split("urmp", "violin", "train", tmp_path)
    v = d["periodicity"] > 0.5
    assert np.median(d["f0_hz"][v]) > 190 and np.median(d["f0_hz"][v]) < 740
    # torch dataset
    ds = ExcerptDataset("urmp", "violin", "train", tmp_path)
    item = ds[0]
    assert item["audio"].shape == (64000,) and item["f0_hz"].shape == (1000,)
    # every excerpt listed with its sha256; the manifest's own hash is stable on rebuild
    assert all(len(e["sha256"]) == 64 for e in ex)
    mtime = (tmp_path / "urmp" / "violin" / "train.npz").stat().st_mtime_ns
    again = build_urmp(urmp_root, ["violin"], extractor="pyin", analysis_hop=256, root=tmp_path)
    assert again["violin"]["manifest_hash"] == man["manifest_hash"]
    assert (tmp_path / "urmp" / "violin" / "train.npz").stat().st_mtime_ns == mtime  # skipped
    forced = build_urmp(urmp_root, ["violin"], extractor="pyin", analysis_hop=256,
                        root=tmp_path, force=True)
    assert forced["violin"]["manifest_hash"] == man["manifest_hash"]
    assert not list((tmp_path / "urmp").rglob(".*tmp*"))


def test_urmp_short_stem_is_skipped_with_its_name(urmp_root, tmp_path):
    with pytest.raises(DataError, match="AuSep_2_tpt_04_Air.wav"):
        build_urmp(urmp_root, ["trumpet"], extractor="pyin", analysis_hop=256, root=tmp_path)
    assert not (tmp_path / "urmp" / "trumpet" / "manifest.json").exists()


def test_urmp_root_without_stems(tmp_path):
    (tmp_path / "empty" / "01_Jupiter_vn_vc").mkdir(parents=True)
    with pytest.raises(DataError, match="no violin stems"):
        build_urmp(tmp_path / "empty", ["violin"], root=tmp_path / "out")
    with pytest.raises(DataError, match="no violin stems.*no flute stems.*no trumpet stems"):
        build_urmp(tmp_path / "empty", None, root=tmp_path / "out")
    with pytest.raises(DataError, match="does not exist"):
        build_urmp(tmp_path / "nowhere", ["violin"], root=tmp_path / "out")
    with pytest.raises(DataError, match="unknown instrument"):
        build_urmp(tmp_path / "empty", ["kazoo"], root=tmp_path / "out")
