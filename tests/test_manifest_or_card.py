"""manifest_or_card: the built manifest, else the committed card's, else the error that says how to build."""

import json
from pathlib import Path

import pytest

from ddx7.data.card import manifest_or_card
from ddx7.data.errors import DataError
from ddx7.eval.unseen import held_out_specs

ROOT = Path(__file__).resolve().parents[1]


def test_built_manifest_first_then_the_committed_card_then_a_clear_error(tmp_path):
    card = tmp_path / "results/p/data/violin"
    card.mkdir(parents=True)
    (card / "manifest.json").write_text(json.dumps({"manifest_hash": "card"}))
    built = tmp_path / "data/p/violin"
    assert manifest_or_card("p", "violin", tmp_path / "data", tmp_path / "results") == {"manifest_hash": "card"}
    built.mkdir(parents=True)
    (built / "manifest.json").write_text(json.dumps({"manifest_hash": "built"}))
    assert manifest_or_card("p", "violin", tmp_path / "data", tmp_path / "results")["manifest_hash"] == "built"
    with pytest.raises(DataError, match="ddx7 data build --profile p --instruments flute"):
        manifest_or_card("p", "flute", tmp_path / "data", tmp_path / "results")


def test_the_unseen_phrases_pieces_come_from_the_committed_card_without_built_data(tmp_path):
    manifest = manifest_or_card("full", "trumpet", tmp_path / "no-data", ROOT / "results")
    committed = json.loads((ROOT / "results/full/data/trumpet/manifest.json").read_text())
    assert manifest["manifest_hash"] == committed["manifest_hash"]
    test_pieces = {p["piece"] for p in committed["pieces"] if p["split"] == "test"}
    specs = held_out_specs("trumpet", manifest)
    assert len(specs) == len(test_pieces) > 0  # eval-unseen's pieces: the test split's, in catalog order
