"""Image bytes in and out, with the infotext embedded the way A1111 readers expect.

One writer serves both the files in `outputs/` and the base64 images of the API, so an image
downloaded from either carries the same metadata: PNG `parameters` text chunk (iTXt when the
text is not Latin-1), JPEG/WebP/AVIF EXIF UserComment, GIF comment.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import IO

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from modules.images.pnginfo import EXIF_IFD, USER_COMMENT, encode_user_comment

log = logging.getLogger(__name__)

# extension -> PIL format name
FORMATS = MappingProxyType({
    "png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "gif": "GIF",
})
# Largest side each format can store; bigger images fall back to PNG (as A1111 does).
MAX_SIDE = MappingProxyType({"JPEG": 65535, "WEBP": 16383})
PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
_DATA_URI = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.I)


def normalize_format(fmt: str) -> str:
    """'.JPG' -> 'jpg'; unknown extensions get an error listing the supported ones."""
    ext = fmt.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}: use one of {', '.join(FORMATS)}")
    return ext


def fits_format(image: Image.Image, ext: str) -> bool:
    limit = MAX_SIDE.get(FORMATS[normalize_format(ext)])
    return limit is None or max(image.size) <= limit


def exif_with_comment(info: str) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = encode_user_comment(info)
    return exif.tobytes()


def _png_info(info: str | None, extra: Mapping[str, str] | None) -> PngImagePlugin.PngInfo:
    chunks = PngImagePlugin.PngInfo()
    for key, value in {**(extra or {}), **({"parameters": info} if info is not None else {})}.items():
        chunks.add_text(key, str(value))  # Pillow switches to iTXt for non-Latin-1 text
    return chunks


def _lossy_ready(image: Image.Image, pil_format: str) -> Image.Image:
    """JPEG has no alpha and no 16-bit; WebP/AVIF want RGB(A)."""
    if image.mode == "I;16":
        image = image.point(lambda p: p * (255 / 65535)).convert("L")
    if pil_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        return image.convert("RGB")
    if pil_format != "JPEG" and image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
    return image


def write_image(image: Image.Image, target: str | IO[bytes], ext: str, info: str | None, *,
                jpeg_quality: int = 80, webp_lossless: bool = False, enable_pnginfo: bool = True,
                extra_pnginfo: Mapping[str, str] | None = None) -> None:
    """Encode `image` as `ext` into a path or file object, embedding `info` when enabled."""
    pil_format = FORMATS[normalize_format(ext)]
    info = info if enable_pnginfo else None
    if pil_format == "PNG":
        if image.mode not in PNG_MODES:
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        chunks = _png_info(info, extra_pnginfo) if enable_pnginfo else None
        image.save(target, format="PNG", pnginfo=chunks)
    elif pil_format == "GIF":
        image.save(target, format="GIF", **({"comment": info} if info else {}))
    else:
        _write_lossy(_lossy_ready(image, pil_format), target, pil_format, info, jpeg_quality, webp_lossless)


def _write_lossy(image: Image.Image, target: str | IO[bytes], pil_format: str, info: str | None,
                 quality: int, lossless: bool) -> None:
    options: dict[str, object] = {"quality": quality}
    if pil_format == "WEBP":
        options["lossless"] = lossless
    exif = exif_with_comment(info) if info else None
    if exif is not None and pil_format == "JPEG" and len(exif) > 65533:
        log.warning("infotext too long for JPEG EXIF (%d bytes); saved without it", len(exif))
        exif = None
    image.save(target, format=pil_format, **options, **({"exif": exif} if exif else {}))


def encode_image_bytes(image: Image.Image, fmt: str = "png", info: str | None = None, *,
                       jpeg_quality: int = 80, webp_lossless: bool = False) -> bytes:
    """The bytes an API response carries (base64-encoded by the caller)."""
    buffer = io.BytesIO()
    write_image(image, buffer, fmt, info, jpeg_quality=jpeg_quality, webp_lossless=webp_lossless)
    return buffer.getvalue()


def _b64_payload(s: str) -> bytes:
    text = s.strip()
    match = _DATA_URI.match(text)
    if match:
        text = text[match.end():]
    elif text.startswith("data:"):
        raise ValueError("image data URI is not base64: expected 'data:image/png;base64,<data>'")
    elif text.startswith(("http://", "https://")):
        raise ValueError("image URLs are not fetched: send the image as base64 "
                         "or as a data:image/...;base64, URI")
    text = re.sub(r"\s+", "", text)
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"image is not valid base64 ({e}); send base64 of a PNG/JPEG/WebP file") from e


def _plain(error: BaseException) -> str:
    """An error's text without Python object reprs (`<_io.BytesIO object at 0x...>`)."""
    return re.sub(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>", "", str(error)).strip() or type(error).__name__


class InputImageTooLargeError(ValueError):
    """An input image with more pixels than the `input_image_max_pixels` setting allows."""


def check_pixels(image: Image.Image, max_pixels: int | None) -> None:
    """Refuse by the size in the file's header, before the pixels are decoded: a 13000x13000
    PNG is 657 KB of base64 but 500 MB once decoded."""
    width, height = image.size
    if max_pixels and width * height > max_pixels:
        raise InputImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels} pixels "
            "(setting 'input_image_max_pixels'): send a smaller image")


def decode_image_b64(s: str, max_pixels: int | None = None) -> Image.Image:
    """An image from raw base64 or a `data:image/...;base64,` URI; ValueError names the problem.
    With `max_pixels`, a bigger image is refused (InputImageTooLargeError) before decoding."""
    if not isinstance(s, str) or not s.strip():
        raise ValueError("image is empty: send base64 of a PNG/JPEG/WebP file")
    data = _b64_payload(s)
    try:
        image = Image.open(io.BytesIO(data))
        check_pixels(image, max_pixels)
        image.load()
    except UnidentifiedImageError as e:  # its text is "cannot identify image file <_io.BytesIO object at 0x...>"
        raise ValueError(f"base64 data is not an image ({len(data)} bytes in no known image format); "
                         "send a PNG, JPEG or WebP file") from e
    except (Image.DecompressionBombError, OSError, SyntaxError) as e:
        raise ValueError(f"base64 data is not a readable image ({len(data)} bytes: {_plain(e)}); "
                         "send a PNG, JPEG or WebP file") from e
    return image
