"""Saving images: A1111 folder and file names, embedded infotext, atomic writes, .txt sidecars."""

import datetime as dt
import os

import pytest
from PIL import Image

from modules.images import saving
from modules.images.filenames import FilenameContext
from modules.images.pnginfo import read_info_from_image
from modules.images.saving import SaveOptions, save_image

NOW = dt.datetime(2024, 7, 27, 10, 0, 0)
CTX = FilenameContext(prompt="a cat", negative_prompt="", steps=4, batch_size=2, now=NOW)
INFO = "a cat\nSteps: 4, Sampler: Euler, Seed: 1234"


def img(color="red", size=(8, 8)):
    return Image.new("RGB", size, color)


def test_samples_numbered_in_date_folder_with_parameters_chunk(tmp_path):
    path, txt = save_image(img(), tmp_path, "", seed=1234, prompt="a cat", info=INFO, context=CTX)
    assert path == str(tmp_path / "2024-07-27" / "00000-1234.png") and txt is None
    path2, _ = save_image(img(), tmp_path, "", seed=1235, info=INFO, context=CTX)
    assert os.path.basename(path2) == "00001-1235.png"
    with Image.open(path) as saved:
        assert saved.info["parameters"] == INFO and read_info_from_image(saved)[0] == INFO
    assert sorted(p.name for p in (tmp_path / "2024-07-27").iterdir()) == ["00000-1234.png", "00001-1235.png"]


def test_grids_short_and_extended_names(tmp_path):
    grid_path, _ = save_image(img(), tmp_path, "grid", seed=1234, info=INFO, context=CTX, grid=True)
    assert grid_path == str(tmp_path / "2024-07-27" / "grid-0000.png")
    extended = SaveOptions(grid_extended_filename=True)
    second, _ = save_image(img(), tmp_path, "grid", seed=1234, info=INFO, context=CTX, grid=True,
                           options=extended)
    assert os.path.basename(second) == "grid-0001-1234.png"
    flat, _ = save_image(img(), tmp_path, "grid", seed=9, context=CTX, grid=True,
                         options=SaveOptions(grid_save_to_dirs=False))
    assert flat == str(tmp_path / "grid-0000.png")


def test_without_dirs_the_prompt_joins_the_name(tmp_path):
    path, _ = save_image(img(), tmp_path, "", seed=7, prompt="a cat: cute", context=CTX,
                         options=SaveOptions(save_to_dirs=False))
    assert path == str(tmp_path / "00000-7-a cat_ cute.png")


def test_custom_patterns_and_no_number(tmp_path):
    options = SaveOptions(samples_filename_pattern="[seed]-[steps]",
                          directories_filename_pattern="[prompt_words]", save_images_add_number=False)
    path, _ = save_image(img(), tmp_path, "", seed=3, context=CTX, options=options, suffix="-mask")
    assert path == str(tmp_path / "a cat" / "3-4-mask.png")


def test_replace_action(tmp_path):
    options = SaveOptions(save_images_add_number=False, save_to_dirs=False, samples_filename_pattern="[seed]")
    first, _ = save_image(img("red"), tmp_path, "", seed=1, context=CTX, options=options)
    again, _ = save_image(img("blue"), tmp_path, "", seed=1, context=CTX, options=options)
    assert first == again and Image.open(again).getpixel((0, 0)) == (0, 0, 255)
    add = SaveOptions(save_images_add_number=False, save_to_dirs=False, samples_filename_pattern="[seed]",
                      save_images_replace_action="Add number suffix")
    third, _ = save_image(img("green"), tmp_path, "", seed=1, context=CTX, options=add)
    assert os.path.basename(third) == "1-1.png" and Image.open(first).getpixel((0, 0)) == (0, 0, 255)


def test_jpeg_webp_and_txt_sidecar(tmp_path):
    jpg = SaveOptions(jpeg_quality=95, save_txt=True, save_to_dirs=False, samples_filename_pattern="[seed]")
    path, txt = save_image(img(), tmp_path, "", seed=5, extension="jpg", info=INFO, context=CTX, options=jpg)
    assert path.endswith("00000-5.jpg") and txt == str(tmp_path / "00000-5.txt")
    assert open(txt, encoding="utf-8").read() == INFO + "\n"
    with Image.open(path) as saved:
        assert saved.format == "JPEG" and read_info_from_image(saved)[0] == INFO
    noisy = Image.effect_noise((32, 32), 60).convert("RGB")
    webp = SaveOptions(webp_lossless=True, save_to_dirs=False)
    wpath, _ = save_image(noisy, tmp_path, "", seed=6, extension="webp", info=INFO, context=CTX, options=webp)
    with Image.open(wpath) as saved:
        assert saved.format == "WEBP" and saved.convert("RGB").tobytes() == noisy.tobytes()
        assert read_info_from_image(saved)[0] == INFO


def test_pnginfo_disabled_writes_no_text(tmp_path):
    path, _ = save_image(img(), tmp_path, "", seed=1, info=INFO, context=CTX,
                         options=SaveOptions(enable_pnginfo=False))
    assert "parameters" not in Image.open(path).info


def test_webp_too_large_falls_back_to_png(tmp_path):
    path, _ = save_image(img(size=(16384, 1)), tmp_path, "", seed=1, extension="webp", context=CTX)
    assert path.endswith(".png") and Image.open(path).format == "PNG"


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(image, target, ext, info, **kw):
        target.write(b"\x89PNG half")  # an open file: the save writes to a hidden temp file
        raise OSError("disk full")

    monkeypatch.setattr(saving, "write_image", broken)
    with pytest.raises(OSError, match="disk full"):
        save_image(img(), tmp_path, "", seed=1, context=CTX)
    assert list((tmp_path / "2024-07-27").iterdir()) == []


def test_long_names_fit_the_filesystem(tmp_path):
    long_ctx = FilenameContext(prompt="word " * 100, now=NOW)
    options = SaveOptions(samples_filename_pattern="[prompt]-[prompt]-[prompt]", filenames_max_length=200)
    path, _ = save_image(img(), tmp_path, "", seed=1, context=long_ctx, options=options)
    limit = os.statvfs(tmp_path).f_namemax
    assert len(os.path.basename(path)) <= limit and path.endswith(".png") and os.path.exists(path)


def test_before_save_hook_can_change_info_and_name(tmp_path):
    def hook(params):
        params.pnginfo["parameters"] += ", Extra: 1"
        params.filename = params.filename.replace("00000", "custom")

    path, _ = save_image(img(), tmp_path, "", seed=2, info=INFO, context=CTX, before_save=hook)
    assert os.path.basename(path) == "custom-2.png"
    assert Image.open(path).info["parameters"] == INFO + ", Extra: 1"


def test_options_from_settings():
    options = SaveOptions.from_settings({"samples_format": "jpg", "jpeg_quality": 90, "unrelated": 1},
                                        filenames_max_length=64)
    assert (options.samples_format, options.jpeg_quality, options.filenames_max_length) == ("jpg", 90, 64)
    assert SaveOptions().directories_filename_pattern == "[date]" and SaveOptions().save_images_add_number


def test_directory_pattern_subfolders_but_no_escape(tmp_path):
    options = SaveOptions(directories_filename_pattern="[date]/../[steps]/./x")
    path, _ = save_image(img(), tmp_path / "out", "", seed=1, context=CTX, options=options)
    assert path == str(tmp_path / "out" / "2024-07-27" / "4" / "x" / "00000-1.png")


def test_export_for_4chan_writes_downscaled_jpeg_copy(tmp_path):
    options = SaveOptions(export_for_4chan=True, target_side_length=16, save_to_dirs=False)
    path, _ = save_image(img(size=(40, 20)), tmp_path, "", seed=1, info=INFO, context=CTX, options=options)
    with Image.open(path[:-4] + ".jpg") as copy:
        assert copy.size == (16, 8) and read_info_from_image(copy)[0] == INFO
    small, _ = save_image(img(size=(8, 8)), tmp_path, "", seed=2, context=CTX, options=options)
    assert not os.path.exists(small[:-4] + ".jpg")


def test_cmyk_image_saves_as_png(tmp_path):
    path, _ = save_image(Image.new("CMYK", (4, 4)), tmp_path, "", seed=1, info=INFO, context=CTX)
    assert Image.open(path).mode == "RGB"


def test_seed_from_context_names_the_file(tmp_path):
    ctx = FilenameContext(seed=99, prompt="p", now=NOW)
    path, _ = save_image(img(), tmp_path, "", context=ctx)
    assert os.path.basename(path) == "00000-99.png"
    no_seed, _ = save_image(img(), tmp_path, "", context=FilenameContext(now=NOW))
    assert os.path.basename(no_seed) == "00001.png"
