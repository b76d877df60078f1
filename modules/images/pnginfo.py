"""Reading generation parameters back out of image files (PNG Info tab, API /png-info, paste).

A1111 stores the infotext in a PNG `parameters` text chunk, in EXIF UserComment for
JPEG/WebP/AVIF and in the GIF comment; NovelAI PNGs carry their own JSON, converted here to an
A1111 infotext so that pasting works. Everything else in `image.info` is returned as `items`
so the UI can show it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286

# Container details that say nothing about how the image was made.
IGNORED_INFO_KEYS = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background",
    "timestamp", "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
})

# NovelAI's sampler names -> A1111 names (k-diffusion aliases); unknown ones become "Euler a".
NOVELAI_SAMPLERS = MappingProxyType({
    "k_euler_ancestral": "Euler a", "k_euler_a": "Euler a", "k_euler": "Euler", "k_lms": "LMS",
    "k_heun": "Heun", "k_dpm_2": "DPM2", "k_dpm_2_ancestral": "DPM2 a", "k_dpm_2_a": "DPM2 a",
    "k_dpmpp_2s_ancestral": "DPM++ 2S a", "k_dpmpp_2s_a": "DPM++ 2S a", "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_sde": "DPM++ SDE", "k_dpmpp_2m_sde": "DPM++ 2M SDE", "k_dpm_fast": "DPM fast",
    "k_dpm_adaptive": "DPM adaptive", "ddim": "DDIM", "plms": "PLMS",
})

# 8-byte character-code prefixes of an EXIF UserComment (EXIF 2.3, table 9).
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
_UNICODE_PREFIX = b"UNICODE\x00"
_JIS_PREFIX = b"JIS\x00\x00\x00\x00\x00"


def encode_user_comment(text: str) -> bytes:
    """UserComment in the form A1111 (piexif) writes: UNICODE prefix + UTF-16 big-endian."""
    return _UNICODE_PREFIX + text.encode("utf-16-be")


def _decode_utf16(data: bytes) -> str:
    """UTF-16 of unknown byte order: honour a BOM, else guess from where the zero bytes are."""
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return data.decode("utf-16", errors="ignore")
    even_zeros = data[0::2].count(0)
    odd_zeros = data[1::2].count(0)
    return data.decode("utf-16-le" if odd_zeros > even_zeros else "utf-16-be", errors="ignore")


def decode_user_comment(data: bytes | str) -> str:
    """Text of an EXIF UserComment, whatever character code its prefix names."""
    if isinstance(data, str):
        return data.rstrip("\x00")
    prefix, body = data[:8], data[8:]
    if prefix == _UNICODE_PREFIX:
        text = _decode_utf16(body)
    elif prefix == _ASCII_PREFIX:
        text = body.decode("ascii", errors="ignore")
    elif prefix == _JIS_PREFIX:
        text = body.decode("shift_jis", errors="ignore")
    else:  # undefined code: most writers mean UTF-8
        text = (body if prefix == b"\x00" * 8 else data).decode("utf-8", errors="ignore")
    return text.rstrip("\x00")


def _exif_comment(raw: bytes) -> str | None:
    exif = Image.Exif()
    try:
        exif.load(raw)
        value = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError) as e:  # malformed EXIF from other tools
        log.debug("unreadable EXIF: %s", e)
        return None
    return decode_user_comment(value) if value else None


def _novelai_infotext(image: Image.Image, items: dict[str, Any],
                      sampler_lookup: Callable[[str], str | None] | None) -> str | None:
    """NovelAI keeps settings as JSON in `Comment`; A1111 pastes them with its NAI defaults."""
    try:
        data = json.loads(items["Comment"])
        name = data["sampler"]
        sampler = (sampler_lookup(name) if sampler_lookup else None) or NOVELAI_SAMPLERS.get(name, "Euler a")
        return (f"{items['Description']}\n"
                f"Negative prompt: {data['uc']}\n"
                f"Steps: {data['steps']}, Sampler: {sampler}, CFG scale: {data['scale']}, "
                f"Seed: {data['seed']}, "
                f"Size: {image.width}x{image.height}, Clip skip: 2, ENSD: 31337")
    except (KeyError, TypeError, ValueError) as e:
        log.warning("NovelAI image with unreadable parameters: %s", e)
        return None


def read_info_from_image(
    image: Image.Image, sampler_lookup: Callable[[str], str | None] | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """(infotext or None, the other metadata items) of an opened image."""
    items = dict(image.info or {})
    geninfo = items.pop("parameters", None)
    if "exif" in items:
        geninfo = _exif_comment(items["exif"]) or geninfo
    elif "comment" in items:
        comment = items["comment"]
        geninfo = comment.decode("utf-8", errors="ignore") if isinstance(comment, bytes) else comment
    for key in IGNORED_INFO_KEYS:
        items.pop(key, None)
    if items.get("Software") == "NovelAI":
        geninfo = _novelai_infotext(image, items, sampler_lookup) or geninfo
    return geninfo, items
