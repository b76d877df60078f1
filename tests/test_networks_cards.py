"""Card data of the extra-network browser: previews, name.json notes, tags, folders, safe paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modules.networks.cards import cards, folders, preview_path, save_user_metadata
from modules.networks.catalog import NetworkCatalog


@pytest.fixture()
def catalog(tmp_path: Path) -> NetworkCatalog:
    root = tmp_path / "Lora"
    (root / "anime" / "faces").mkdir(parents=True)
    (root / "plain.safetensors").write_bytes(b"x")
    (root / "anime" / "faces" / "eyes.safetensors").write_bytes(b"x")
    (root / "anime" / "faces" / "eyes.preview.png").write_bytes(b"png")
    (root / "anime" / "faces" / "eyes.json").write_text(json.dumps(
        {"activation text": "big eyes", "preferred weight": 0.6, "description": "Eyes!"}), encoding="utf-8")
    (tmp_path / "secret.png").write_bytes(b"no")
    return NetworkCatalog([root], (".safetensors",))


def test_cards_carry_tag_preview_folder_and_notes(catalog: NetworkCatalog):
    by_name = {c["name"]: c for c in cards("lora", catalog, default_weight=0.8)}
    assert by_name["plain"]["prompt"] == "<lora:plain:0.8>" and by_name["plain"]["preview"] is None
    eyes = by_name["eyes"]
    assert eyes["prompt"] == "<lora:eyes:0.6> big eyes"
    assert eyes["preview"] == "anime/faces/eyes.preview.png" and eyes["folder"] == "anime/faces"
    assert eyes["description"] == "Eyes!" and "big eyes" in eyes["search"]
    assert folders(list(by_name.values())) == ["anime", "anime/faces"]
    assert cards("textual_inversion", catalog)[0]["prompt"] in ("plain", "eyes")


def test_preview_paths_stay_inside_the_folder(catalog: NetworkCatalog):
    assert preview_path(catalog, "anime/faces/eyes.preview.png") is not None
    assert preview_path(catalog, "../secret.png") is None
    assert preview_path(catalog, "plain.safetensors") is None  # not an image


def test_user_metadata_is_merged_and_checked(catalog: NetworkCatalog):
    plain = catalog.find("plain")
    assert save_user_metadata(plain, {"notes": "mine"}) == {"notes": "mine"}
    assert save_user_metadata(plain, {"preferred weight": 0.3})["notes"] == "mine"
    catalog.refresh()
    assert next(c for c in cards("lora", catalog) if c["name"] == "plain")["prompt"] == "<lora:plain:0.3>"
    with pytest.raises(ValueError, match="unknown card metadata"):
        save_user_metadata(plain, {"evil": 1})
