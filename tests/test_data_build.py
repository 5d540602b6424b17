"""Rendered-corpus build end to end on a tiny custom profile (pyin, a few seconds)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from ddx7.data import DataError, load_manifest, load_split
from ddx7.data import build as B
from ddx7.data import render as R

pytestmark = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path(R.DEFAULT_SOUNDFONT).is_file(),
    reason="fluidsynth or FluidR3_GM.sf2 not installed")

PIECES = ["bach/bwv1.6@soprano", "bach/bwv10.7@soprano", "nonexistent/piece",
          "bach/bwv104.6@soprano", "bach/bwv108.6@soprano"]
TINY = B.Profile("tiny-test", target_seconds=1.0, max_piece_seconds=6.0, min_pieces=4,
                 max_pieces=4, extractor="pyin", analysis_hop=256)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    man = B.build_rendered(TINY, "trumpet", pieces=PIECES, root=root)
    return root, man


def test_rendered_build(built):
    root, man = built
    assert man == load_manifest("tiny-test", "trumpet", root)
    assert man["source"] == "rendered" and man["extractor"]["method"] == "pyin"
    assert [s["file"] for s in man["skipped"]] == ["nonexistent/piece"]
    assert "nonexistent/piece" in man["skipped"][0]["reason"]
    assert len(man["pieces"]) == 4
    # splits are disjoint by piece and cover every kept excerpt
    split_of_piece = {}
    n = 0
    for s in ("train", "valid", "test"):
        d = load_split("tiny-test", "trumpet", s, root)
        n += len(d["excerpt_id"])
        assert d["f0_true_hz"].shape == d["f0_hz"].shape
        for p in d["piece"]:
            assert split_of_piece.setdefault(p, s) == s
        if len(d["excerpt_id"]):
            assert d["f0_hz"].shape[1] == d["loudness_db"].shape[1] == 1000
    assert set(split_of_piece.values()) == {"train", "valid", "test"}
    assert n == sum(1 for e in man["excerpts"] if e["split"])
    for e in man["excerpts"]:
        assert e["source_file"].startswith("music21:bach/") and len(e["sha256"]) == 64
    # the extractor is scored against the score's f0
    row = man["f0_benchmark"][0]
    assert row["method"] == "pyin" and row["frames"] > 500 and row["rpa"] > 0.95
    assert man["build_info"]["timings_s"]["total_s"] > 0


def test_rebuild_is_skipped_and_rendering_is_deterministic(built):
    root, man = built
    again = B.build_rendered(TINY, "trumpet", pieces=PIECES, root=root)
    assert again["build_info"] == man["build_info"]  # untouched: skipped
    forced = B.build_rendered(TINY, "trumpet", pieces=PIECES, root=root, force=True)
    assert forced["manifest_hash"] == man["manifest_hash"]  # same audio, same hash
    other = B.build_rendered(TINY, "trumpet", pieces=PIECES, root=root, seed=99)
    assert other["manifest_hash"] != man["manifest_hash"]


def test_missing_soundfont_writes_nothing(tmp_path):
    with pytest.raises(DataError, match="soundfont not found"):
        B.build_rendered(TINY, "trumpet", pieces=PIECES, soundfont=str(tmp_path / "x.sf2"),
                         root=tmp_path)
    assert not list(tmp_path.rglob("*.npz"))


def test_unknown_profile_and_instrument(tmp_path):
    with pytest.raises(DataError, match="unknown profile"):
        B.build_profile("huge", root=tmp_path)
    with pytest.raises(DataError, match="unknown instrument"):
        B.build_profile("smoke", ["kazoo"], root=tmp_path)


def test_data_card_round_trip(built, tmp_path):
    from ddx7.data.card import example_indices, load_card, write_card

    root, _ = built
    man = load_manifest("tiny-test", "trumpet", root)  # an earlier test may have rebuilt it with another seed
    out = write_card("tiny-test", "trumpet", root=root, results_root=tmp_path, n_examples=3)
    card_man, splits = load_card("tiny-test", "trumpet", tmp_path)
    assert card_man == man
    for s in ("train", "valid", "test"):
        d = load_split("tiny-test", "trumpet", s, root)
        c = splits[s]
        assert list(c["excerpt_id"]) == list(d["excerpt_id"])
        np.testing.assert_allclose(c["f0_hz"], d["f0_hz"], rtol=1e-3)  # float16 keeps ~3 digits
        np.testing.assert_allclose(c["loudness_db"], d["loudness_db"], rtol=1e-3, atol=0.05)
        idx = example_indices(len(d["excerpt_id"]), 3)
        for i in idx:
            np.testing.assert_allclose(c["audio"][i], d["audio"][i], atol=1e-3)
        missing = sorted(set(range(len(d["excerpt_id"]))) - set(idx))
        if missing:
            with pytest.raises(DataError, match="keeps the audio of excerpts"):
                c["audio"][missing[0]]
    (out / "card.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable data card"):
        load_card("tiny-test", "trumpet", tmp_path)
    with pytest.raises(DataError, match="no data card"):
        load_card("tiny-test", "violin", tmp_path)
