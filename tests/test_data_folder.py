"""Folder source: any format / rate / channel count, and bad input of every kind."""

import numpy as np
import pytest
import soundfile as sf
from test_data_urmp import phrase

from ddx7 import SAMPLE_RATE
from ddx7.atomic import TEMP_SUFFIX
from ddx7.cli import main as ddx7_main
from ddx7.data import DataError, assemble, load_manifest, load_split
from ddx7.data import audio as A
from ddx7.data.folder import build_folder


def data_cli(argv) -> int:
    """``ddx7 data ARGV...``; its exit status."""
    return ddx7_main(["data", *argv])


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("recs")
    x44 = phrase(1, 4.5, sr=44100)
    sf.write(d / "take1.flac", np.stack([x44, 0.5 * x44], 1), 44100)  # stereo FLAC 44.1k
    x = phrase(2, 4.4, sr=44100)
    sf.write(d / "take2.ogg", np.stack([x, x], 1), 44100, format="OGG", subtype="VORBIS")
    (d / "sub").mkdir()
    sf.write(d / "sub" / "take3.wav", phrase(3, 4.3, sr=22050), 22050, subtype="PCM_16")
    sf.write(d / "take4.wav", phrase(4, 4.2, sr=SAMPLE_RATE), SAMPLE_RATE, subtype="FLOAT")
    # bad input
    (d / "empty.wav").write_bytes(b"")
    (d / "garbage.flac").write_bytes(b"this is not audio at all" * 100)
    sf.write(d / "silent.wav", np.zeros(5 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    sf.write(d / "short.wav", phrase(5, 2.5, sr=SAMPLE_RATE), SAMPLE_RATE)
    clipped = np.clip(phrase(6, 5.0, sr=SAMPLE_RATE) * 20, -1, 1)
    sf.write(d / "clipped.wav", clipped, SAMPLE_RATE, subtype="PCM_16")
    (d / "notes.txt").write_text("not audio, ignored")
    return d


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """One output root for the folder builds: they share the feature cache."""
    return tmp_path_factory.mktemp("data")


def test_read_audio_formats(recordings):
    x, sr, ch = A.read_audio(recordings / "take1.flac")
    assert (sr, ch) == (44100, 2) and abs(len(x) - 4.5 * SAMPLE_RATE) <= 2 and x.dtype == np.float32
    x, sr, ch = A.read_audio(recordings / "take2.ogg")
    assert (sr, ch) == (44100, 2) and abs(len(x) - 4.4 * SAMPLE_RATE) <= 2
    x, sr, ch = A.read_audio(recordings / "sub" / "take3.wav")
    assert (sr, ch) == (22050, 1)


@pytest.mark.parametrize("name,match", [
    ("empty.wav", "empty file"),
    ("garbage.flac", "cannot read audio"),
    ("silent.wav", "silence only"),
    ("clipped.wav", "clipped audio"),
    ("missing.wav", "no such file"),
])
def test_bad_files_raise_naming_the_file(recordings, name, match):
    with pytest.raises(DataError, match=match) as info:
        A.load_recording(recordings / name)
    assert name in str(info.value)


def test_chunking_rules():
    n = SAMPLE_RATE
    # 9.5 s interval -> 4 + 4 + (1.5 dropped); 3.2 s -> kept; exactly 3 s -> dropped
    chunks = A.chunk_intervals(30 * n, [(0, int(9.5 * n)), (10 * n, int(13.2 * n)),
                                       (14 * n, 17 * n)])
    assert chunks == [(0, 4 * n), (4 * n, 8 * n), (10 * n, int(13.2 * n))]


def test_folder_build(recordings, data_root):
    tmp_path = data_root
    out = build_folder(recordings, "cello", extractor="pyin", analysis_hop=256, root=tmp_path)
    man = out["cello"]
    assert man == load_manifest("folder", "cello", tmp_path)
    pieces = {p["piece"] for p in man["pieces"]}
    assert pieces == {"take1", "take2", "sub/take3", "take4"}
    skipped = {s["file"]: s["reason"] for s in man["skipped"]}
    assert set(skipped) == {"empty.wav", "garbage.flac", "silent.wav", "short.wav",
                            "clipped.wav"}
    assert "short.wav" in skipped["short.wav"] and "3 s" in skipped["short.wav"]
    assert man["split"]["by"] == "piece"
    assert man["periodicity_filter"]["threshold"] > 0
    total = sum(len(load_split("folder", "cello", s, tmp_path)["excerpt_id"])
                for s in ("train", "valid", "test"))
    assert total == len([e for e in man["excerpts"] if e["split"]]) == 4
    assert not list(tmp_path.rglob(f".*{TEMP_SUFFIX}"))  # no temporary file of ddx7.atomic left


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        build_folder(tmp_path / "nope", "cello", root=tmp_path)
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        build_folder(tmp_path / "none", "cello", root=tmp_path)
    with pytest.raises(DataError, match="invalid name"):
        build_folder(tmp_path / "none", "Cello Solo!", root=tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    sf.write(bad / "silent.wav", np.zeros(SAMPLE_RATE * 5, np.float32), SAMPLE_RATE)
    with pytest.raises(DataError, match="no usable excerpt.*silent.wav"):
        build_folder(bad, "cello", root=tmp_path / "out")
    assert not (tmp_path / "out" / "folder" / "cello" / "manifest.json").exists()


def test_interrupted_write_leaves_no_dataset(recordings, data_root, monkeypatch):
    tmp_path = data_root
    real = assemble.atomic_savez

    def failing(path, **arrays):
        if path.name == "valid.npz":
            raise OSError("disk full (simulated)")
        return real(path, **arrays)

    monkeypatch.setattr(assemble, "atomic_savez", failing)
    with pytest.raises(OSError):
        build_folder(recordings, "viola", extractor="pyin", analysis_hop=256, root=tmp_path)
    assert not (tmp_path / "folder" / "viola" / "manifest.json").exists()
    with pytest.raises(DataError, match="manifest.json missing"):
        load_split("folder", "viola", "train", tmp_path)
    assert not list(tmp_path.rglob(f".*{TEMP_SUFFIX}"))


def test_cli_folder_and_errors(recordings, data_root, tmp_path, capsys):
    rc = data_cli(["folder", "--dir", str(recordings), "--instrument", "cello", "--profile",
                   "mine", "--extractor", "pyin", "--analysis-hop", "256", "--out",
                   str(data_root)])
    assert rc == 0
    assert "mine/cello: 4 excerpts" in capsys.readouterr().out
    rc = data_cli(["urmp", "--root", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err
    rc = data_cli(["build", "--profile", "smoke", "--instruments", "kazoo",
                   "--root", str(tmp_path)])
    assert rc == 2
    assert "unknown instrument 'kazoo'" in capsys.readouterr().err


def test_single_recording_is_split_in_time(tmp_path, data_root):
    d = tmp_path / "one"
    d.mkdir()
    sf.write(d / "long_take.wav", phrase(7, 12.5, sr=SAMPLE_RATE), SAMPLE_RATE)
    man = build_folder(d, "oboe", extractor="pyin", analysis_hop=256, root=data_root,
                       profile="single")["oboe"]
    assert man["split"]["by"] == "time within piece"
    assert man["stats"]["excerpts"] == {"train": 1, "valid": 1, "test": 1}
    offsets = {e["split"]: e["offset_s"] for e in man["excerpts"]}
    assert offsets["train"] < offsets["valid"] < offsets["test"]
