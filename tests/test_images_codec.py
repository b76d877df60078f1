"""Encoding images with their infotext, and reading it back (PNG, JPEG, WebP, GIF, NovelAI)."""

import base64
import io
import json

import pytest
from PIL import Image, PngImagePlugin

from modules.images.codec import decode_image_b64, encode_image_bytes, exif_with_comment
from modules.images.pnginfo import decode_user_comment, read_info_from_image

INFO = 'a cat, "x": y\nNegative prompt: dog\nSteps: 4, Sampler: Euler, Seed: 1'


def _image(mode="RGB"):
    return Image.new(mode, (16, 12), (200, 10, 30, 128)[: len(mode)] if mode != "L" else 90)


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "gif"])
def test_infotext_round_trips_through_each_format(fmt):
    data = encode_image_bytes(_image(), fmt, INFO)
    image = Image.open(io.BytesIO(data))
    assert image.format == {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF"}[fmt]
    info, items = read_info_from_image(image)
    assert info == INFO
    assert image.size == (16, 12)
    assert not {"exif", "dpi", "jfif", "jfif_version", "loop", "background", "duration"} & set(items)


def test_png_uses_parameters_chunk_and_itxt_for_non_latin_text():
    data = encode_image_bytes(_image(), "png", "東京の猫\nSteps: 4, Seed: 1, Sampler: Euler")
    assert b"iTXtparameters" in data and b"tEXtparameters" not in data
    latin = encode_image_bytes(_image(), "png", "café")
    assert b"tEXtparameters\x00caf\xe9" in latin
    assert Image.open(io.BytesIO(data)).info["parameters"].startswith("東京の猫")


def test_jpeg_exif_usercomment_is_unicode_big_endian_like_piexif():
    exif = exif_with_comment("hi")
    assert b"UNICODE\x00\x00h\x00i" in exif
    rgba = encode_image_bytes(_image("RGBA"), "jpg", "hi")  # alpha is dropped for JPEG
    assert Image.open(io.BytesIO(rgba)).mode == "RGB"


def test_decode_user_comment_variants():
    assert decode_user_comment(b"UNICODE\x00" + "ab, 日".encode("utf-16-be")) == "ab, 日"
    assert decode_user_comment(b"UNICODE\x00" + "ab, 日".encode("utf-16-le")) == "ab, 日"
    assert decode_user_comment(b"ASCII\x00\x00\x00plain\x00") == "plain"
    assert decode_user_comment(b"\x00" * 8 + "ütf".encode()) == "ütf"


def test_other_png_text_is_returned_as_items():
    buffer = io.BytesIO()
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("parameters", "x\nSteps: 1, Seed: 2, Sampler: Euler")
    chunks.add_text("workflow", "{}")
    _image().save(buffer, format="PNG", pnginfo=chunks, dpi=(72, 72))
    info, items = read_info_from_image(Image.open(io.BytesIO(buffer.getvalue())))
    assert info.startswith("x\n") and items["workflow"] == "{}" and "dpi" not in items


def test_novelai_png_becomes_a1111_infotext():
    buffer = io.BytesIO()
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Software", "NovelAI")
    chunks.add_text("Description", "1girl, smile")
    chunks.add_text("Comment", json.dumps({"uc": "lowres", "steps": 28, "sampler": "k_euler_ancestral",
                                           "scale": 11, "seed": 77}))
    Image.new("RGB", (64, 32)).save(buffer, format="PNG", pnginfo=chunks)
    info, _ = read_info_from_image(Image.open(io.BytesIO(buffer.getvalue())))
    assert info == ("1girl, smile\nNegative prompt: lowres\nSteps: 28, Sampler: Euler a, CFG scale: 11, "
                    "Seed: 77, Size: 64x32, Clip skip: 2, ENSD: 31337")


def test_image_without_metadata():
    info, items = read_info_from_image(Image.new("RGB", (4, 4)))
    assert info is None and items == {}


def test_decode_b64_accepts_raw_and_data_uri():
    data = encode_image_bytes(_image(), "png", None)
    raw = base64.b64encode(data).decode()
    assert decode_image_b64(raw).size == (16, 12)
    assert decode_image_b64(f"data:image/png;base64,{raw}").size == (16, 12)
    assert decode_image_b64(raw.rstrip("=") + "\n").size == (16, 12)  # missing padding, newline


@pytest.mark.parametrize(("payload", "message"), [
    ("", "empty"),
    ("not base64 at all!!", "not valid base64"),
    (base64.b64encode(b"hello world, not an image").decode(), "is not an image"),
    ("data:image/png,abc", "not base64"),
    ("https://example.com/x.png", "URLs are not fetched"),
])
def test_decode_b64_errors_name_the_problem(payload, message):
    with pytest.raises(ValueError, match=message):
        decode_image_b64(payload)


@pytest.mark.parametrize("data", [b"hello world, not an image",
                                  encode_image_bytes(Image.new("RGB", (64, 64), (9, 9, 9)), "png", None)[:90]])
def test_decode_errors_never_show_python_object_reprs(data):
    with pytest.raises(ValueError) as error:
        decode_image_b64(base64.b64encode(data).decode())
    assert "object at 0x" not in str(error.value) and "BytesIO" not in str(error.value)
    assert "send a PNG, JPEG or WebP file" in str(error.value)


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported image format 'bmpx'"):
        encode_image_bytes(_image(), "bmpx", None)
