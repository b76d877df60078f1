"""File-name pattern tags, sanitising and sequence numbers (reference §7)."""

import datetime as dt
import hashlib

import pytest
from PIL import Image

from modules.images.filenames import (
    FilenameContext,
    FilenameGenerator,
    get_next_sequence_number,
    sanitize_filename_part,
)

NOW = dt.datetime(2024, 7, 27, 13, 5, 9, tzinfo=dt.UTC)
CTX = FilenameContext(
    seed=1234, prompt="A cat, on: a mat", negative_prompt="ugly", all_seeds=(1234, 1235, 1236), steps=20,
    cfg_scale=7.0, sampler_name="DPM++ 2M", scheduler="Automatic", scheduler_default="karras",
    styles=("Film", "None"), style_prompts=("{prompt}, film grain",), model_hash="6ce0161689",
    model_name="v1-5 pruned", job_timestamp="20240727130509", batch_size=3, n_iter=2, batch_index=1,
    iteration=1, clip_skip=2, denoising_strength=0.55, vae_file="/m/VAE/vae-ft-mse.safetensors", now=NOW)


def expand(pattern, ctx=CTX, image=None, **kw):
    return FilenameGenerator(ctx, image, **kw).apply(pattern)


@pytest.mark.parametrize(("pattern", "expected"), [
    ("[seed]", "1234"), ("[seed_first]-[seed_last]", "1234-1236"), ("[steps]_[cfg]", "20_7.0"),
    ("[styles]", "Film"), ("[sampler]", "DPM++ 2M"), ("[sampler_scheduler]", "DPM++ 2M Karras"),
    ("[scheduler]", "Karras"), ("[model_hash]", "6ce0161689"), ("[model_name]", "v1-5 pruned"),
    ("[date]", "2024-07-27"), ("[datetime<%Y%m%d_%H%M%S>]", "20240727_130509"),
    ("[datetime<%H><Asia/Tokyo>]", "22"), ("[datetime<%H><No/Such_Zone>]", NOW.astimezone().strftime("%H")),
    ("[job_timestamp]", "20240727130509"),
    ("[prompt_hash<8>]", hashlib.sha256(b"A cat, on: a mat").hexdigest()[:8]),
    ("[negative_prompt_hash]", hashlib.sha256(b"ugly").hexdigest()),
    ("[full_prompt_hash<4>]", hashlib.sha256(b"A cat, on: a mat ugly").hexdigest()[:4]),
    ("[prompt]", "A_cat,_on__a_mat"), ("[prompt_spaces]", "A cat, on_ a mat"),
    ("[prompt_words]", "A cat on a mat"), ("[batch_number]-[generation_number]-[batch_size]", "2-5-3"),
    ("[clip_skip]", "2"), ("[denoising]", "0.55"),
    ("[hasprompt<cat|nocat><dog|nodog><bird>]", "catnodog"), ("[vae_filename]", "vae-ft-mse"),
    ("x[none]y", "xy"), ("[unknown_tag]-[seed]", "[unknown_tag]-1234"), ("[SEED]", "1234"),
    ("[user]", "[user]"), ("[prompt_hash<abc>]", "[prompt_hash<abc>]"),
])
def test_tags(pattern, expected):
    assert expand(pattern) == expected


def test_tags_that_vanish_with_preceding_text_for_single_images():
    single = FilenameContext(seed=7, prompt="p", batch_size=1, n_iter=1, sampler_name="Euler a",
                             scheduler="Automatic", now=NOW)
    assert expand("[seed]-[batch_number]-[generation_number]-[seed_last]-[denoising]", single) == "7"
    assert expand("[sampler_scheduler]|[scheduler]", single) == "Euler a Automatic|Automatic"
    assert expand("[vae_filename]", single) == "NoneType"  # A1111's literal value without an external VAE
    assert expand("[steps]", single) == "[steps]"  # not known: kept literally


def test_prompt_no_styles_and_prompt_words_limits():
    ctx = FilenameContext(prompt="a dog, film grain", style_prompts=("{prompt}, film grain",))
    assert expand("[prompt_no_styles]", ctx) == "a dog"
    words = FilenameContext(prompt="one two three four five")
    assert FilenameGenerator(words, max_prompt_words=3).apply("[prompt_words]") == "one two three"
    assert expand("[prompt_words]", FilenameContext(prompt="!!!")) == "empty"


def test_width_height_and_image_hash():
    image = Image.new("RGB", (24, 8), "blue")
    assert expand("[width]x[height]", image=image) == "24x8"
    assert expand("[image_hash<6>]", image=image) == hashlib.sha256(image.tobytes()).hexdigest()[:6]


def test_sanitize_rules_and_length():
    # spaces become "_" first, so only a space-free tail loses its dots
    assert sanitize_filename_part(' a<b>:c"d/e\\f|g?h*i#\n.. ') == "_a_b__c_d_e_f_g_h_i__.._"
    assert sanitize_filename_part("name..") == "name"
    assert sanitize_filename_part("  lead trail. . ", replace_spaces=False) == "lead trail"
    assert sanitize_filename_part("a:b/c d", unix=True) == "a:b_c_d"
    assert sanitize_filename_part("x" * 300) == "x" * 128
    assert sanitize_filename_part("x" * 300, max_length=10) == "x" * 10
    assert len(expand("[prompt]", FilenameContext(prompt="y" * 500))) == 128


def test_next_sequence_number(tmp_path):
    assert get_next_sequence_number(tmp_path / "missing", "") == 0
    assert get_next_sequence_number(tmp_path, "") == 0
    for name in ["00000-1.png", "00007-2.png", "00003.txt", "notes.txt", "grid-0004.png", "00002-x-y.jpg"]:
        (tmp_path / name).write_bytes(b"")
    assert get_next_sequence_number(tmp_path, "") == 8
    assert get_next_sequence_number(tmp_path, "grid") == 5
