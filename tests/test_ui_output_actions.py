"""The output panel's Save and Zip: files in log/images with their infotext, a log.csv row, a zip."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from modules.engine.request import GenerationResult
from modules.settings.schema import default_schema
from modules.ui.output_actions import LOG_CSV_FIELDS, NothingToSaveError, chosen_indices, save_shown_images
from modules.ui.output_panel import selected_infotext

SETTINGS = {k: o.default for k, o in default_schema().items()}


def _result() -> GenerationResult:
    images = [Image.new("RGB", (16, 8), c) for c in ("white", "red", "blue")]
    infotexts = ["grid text", "a cat\nSteps: 2, Seed: 10", "a cat\nSteps: 2, Seed: 11"]
    info = {"prompt": "a cat", "negative_prompt": "dog", "width": 8, "height": 8, "sampler_name": "Euler",
            "cfg_scale": 7.0, "steps": 2, "sd_model_name": "tiny", "sd_model_hash": "8e56425d74", "seed": 10,
            "batch_size": 2}
    return GenerationResult(images=images, infotexts=infotexts, seeds=[10, 11], subseeds=[5, 6],
                            prompts=["a cat"] * 2, negative_prompts=["dog"] * 2, index_of_first_image=1,
                            info=info)


def test_selected_image_only_and_its_own_infotext(tmp_path: Path) -> None:
    outcome = save_shown_images(_result(), 2, tmp_path, SETTINGS)
    assert [Path(f).name for f in outcome.files] == ["00000-11.png"]
    with Image.open(outcome.files[0]) as saved:
        assert saved.info["parameters"] == "a cat\nSteps: 2, Seed: 11"
        assert saved.size == (16, 8) and saved.getpixel((0, 0)) == (0, 0, 255)
    assert outcome.message() == "Saved: 00000-11.png"


def test_grid_or_nothing_selected_saves_everything(tmp_path: Path) -> None:
    assert chosen_indices(_result(), 0) == [0, 1, 2]
    assert chosen_indices(_result(), None) == [0, 1, 2]
    names = [Path(f).name for f in save_shown_images(_result(), 0, tmp_path, SETTINGS).files]
    assert names == ["grid-0000.png", "00000-10.png", "00001-11.png"]  # grids count separately


def test_log_csv_gets_a_header_once_and_one_row_per_save(tmp_path: Path) -> None:
    save_shown_images(_result(), 1, tmp_path, SETTINGS)
    save_shown_images(_result(), 2, tmp_path, SETTINGS)
    with open(tmp_path / "log.csv", encoding="utf8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(LOG_CSV_FIELDS)
    assert rows[1] == ["a cat", "10", "8", "8", "Euler", "7.0", "2", "00000-10.png", "dog", "tiny",
                       "8e56425d74"]
    assert len(rows) == 3 and rows[2][7] == "00001-11.png"


def test_zip_holds_the_saved_files(tmp_path: Path) -> None:
    outcome = save_shown_images(_result(), None, tmp_path, SETTINGS, make_zip=True)
    assert outcome.zip_file is not None and outcome.zip_file.endswith("_[tiny]_10-11.zip")
    with zipfile.ZipFile(outcome.zip_file) as zf:
        assert sorted(zf.namelist()) == sorted(Path(f).name for f in outcome.files)


def test_settings_format_and_txt_are_honoured(tmp_path: Path) -> None:
    settings = {**SETTINGS, "samples_format": "jpg", "save_txt": True}
    outcome = save_shown_images(_result(), 1, tmp_path, settings)
    assert [Path(f).name for f in outcome.files] == ["00000-10.jpg", "00000-10.txt"]
    assert Path(outcome.files[1]).read_text(encoding="utf-8") == "a cat\nSteps: 2, Seed: 10\n"


def test_nothing_to_save_is_a_clear_error(tmp_path: Path) -> None:
    empty = GenerationResult([], [], [], [], [], [])
    with pytest.raises(NothingToSaveError, match="generate one first"):
        save_shown_images(empty, None, tmp_path, SETTINGS)


def test_infotext_shown_for_the_selection() -> None:
    result = _result()
    assert selected_infotext(result, None) == "a cat\nSteps: 2, Seed: 10"  # grid first: show the first image
    assert selected_infotext(result, 0) == "a cat\nSteps: 2, Seed: 10"
    assert selected_infotext(result, 2) == "a cat\nSteps: 2, Seed: 11"
    assert selected_infotext(None, 1) == ""
