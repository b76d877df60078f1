"""Saving generated images where A1111 users look for them, named the way A1111 names them.

`outputs/txt2img-images/2024-07-27/00000-1234567890.png`, grids as `grid-0000.png`, the
infotext inside the file, and an optional `.txt` beside it. Each file is written to
`<name>.tmp` first and then renamed, so a crash or a full disk never leaves half an image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from modules.images.codec import FORMATS, fits_format, normalize_format, write_image
from modules.images.filenames import FilenameContext, FilenameGenerator, get_next_sequence_number
from modules.storage.durable_file import TEMP_SUFFIX, write_durably
from modules.storage.output_folders import OutsideDataFolderError, confined_file, is_inside

log = logging.getLogger(__name__)

MAX_NUMBER_TRIES = 500


@dataclass(frozen=True)
class SaveOptions:
    """The settings that decide where and how images are saved (A1111 option names and defaults)."""

    samples_format: str = "png"
    grid_format: str = "png"
    jpeg_quality: int = 80
    webp_lossless: bool = False
    save_to_dirs: bool = True
    grid_save_to_dirs: bool = True
    directories_filename_pattern: str = "[date]"
    samples_filename_pattern: str = ""
    save_images_add_number: bool = True
    grid_extended_filename: bool = False
    save_txt: bool = False
    enable_pnginfo: bool = True
    filenames_max_length: int = 128  # --filenames-max-length
    unix_filenames_sanitization: bool = False  # --unix-filenames-sanitization
    directories_max_prompt_words: int = 8
    save_images_replace_action: str = "Replace"  # or "Add number suffix"
    export_for_4chan: bool = False  # also write a downscaled .jpg copy of big files
    img_downscale_threshold: float = 4.0  # MB
    target_side_length: int = 4000  # px

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **flags: Any) -> "SaveOptions":
        """Pick the known keys out of a settings mapping; `flags` supply the command-line ones."""
        values = {f.name: settings[f.name] for f in dataclasses.fields(cls) if f.name in settings}
        return cls(**{**values, **flags})


@dataclass
class SaveParams:
    """Handed to `before_save` hooks (extensions' `before_image_saved`), which may change any field."""

    image: Image.Image
    filename: str
    pnginfo: dict[str, str] = field(default_factory=dict)


def _directory(base: Path, namegen: FilenameGenerator, options: SaveOptions, grid: bool,
               save_to_dirs: bool | None, no_prompt: bool) -> Path:
    if save_to_dirs is None:
        save_to_dirs = options.grid_save_to_dirs if grid else (options.save_to_dirs and not no_prompt)
    if save_to_dirs:
        pattern = options.directories_filename_pattern or "[prompt_words]"
        sub = namegen.apply(pattern).lstrip(" ").rstrip("\\ /")
        # subfolders in the pattern are allowed; "." and ".." are not (no escaping the output folder)
        parts = [_trim_utf8(p, 255) for p in sub.replace("\\", "/").split("/") if p.strip(" .")]
        folder = base.joinpath(*parts)
        if not is_inside(folder, base):
            raise OutsideDataFolderError(f"folder pattern {pattern!r} leads outside {base}")
        return folder
    return base


def _decoration(namegen: FilenameGenerator, options: SaveOptions, seed: int | None, short: bool,
                suffix: str) -> str:
    if short or seed is None:
        pattern = ""
    elif options.save_to_dirs:
        pattern = options.samples_filename_pattern or "[seed]"
    else:
        pattern = options.samples_filename_pattern or "[seed]-[prompt_spaces]"
    return without_separators(namegen.apply(pattern) + suffix)


def without_separators(name: str) -> str:
    """A file name never carries a folder: a pattern or prompt with `/` (or `..`) cannot
    leave the output folder (A1111 would create or escape folders here)."""
    for sep in {"/", "\\", os.sep, os.altsep or "/"}:
        name = name.replace(sep, "_")
    return name


def _numbered_path(folder: Path, basename: str, namegen: FilenameGenerator, options: SaveOptions,
                   short: bool, suffix: str, ext: str) -> Path:
    decoration = _decoration(namegen, options, namegen.ctx.seed, short, suffix)
    add_number = options.save_images_add_number or decoration == ""
    return choose_path(folder, basename, decoration, ext, add_number)


def choose_path(directory: Path, basename: str, decoration: str, ext: str, add_number: bool) -> Path:
    """`00000-<decoration>.ext` (or `grid-0000-...`): the next free number, as A1111 counts.

    Names are trimmed to the file system's limit before the existence check, so a long
    prompt pattern never makes the save fail.
    """
    if not add_number:
        return _fit_name(confined_file(directory, f"{decoration}.{ext}"), ext)
    if decoration:
        decoration = f"-{decoration}"
    start = get_next_sequence_number(directory, basename)
    path = directory
    for i in range(MAX_NUMBER_TRIES):
        number = f"{start + i:05}" if basename == "" else f"{basename}-{start + i:04}"
        path = _fit_name(confined_file(directory, f"{number}{decoration}.{ext}"), ext)
        if not path.exists():
            break
    return path


def _fit_name(path: Path, ext: str) -> Path:
    """Trim the stem so that `<stem>.tmp` and `<stem>.<ext>` fit the file system's name limit."""
    try:
        limit = os.statvfs(path.parent).f_namemax
    except (AttributeError, OSError):
        limit = 255
    stem = path.name[: -(len(ext) + 1)]
    keep = limit - max(4, len(ext) + 1)
    return path if len(stem.encode()) <= keep else path.with_name(f"{_trim_utf8(stem, keep)}.{ext}")


def _trim_utf8(text: str, max_bytes: int) -> str:
    """Cut at a character boundary: the limit counts bytes, and prompts are often not ASCII."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def _final_name(path: Path, action: str) -> Path:
    if action == "Replace":
        return path
    stem, suffix, n = path.stem, path.suffix, 0
    while path.exists():
        n += 1
        path = path.with_name(f"{stem}-{n}{suffix}")
    return path


def _write_atomically(params: SaveParams, ext: str, info: str | None, options: SaveOptions) -> Path:
    """Encode into a hidden temp file (`.<random>.tmp`), fsync, rename: a crash or kill
    leaves either no file or a whole one, and `remove_stale_temps` clears the temp at start."""
    target = Path(params.filename)
    extra = {k: v for k, v in params.pnginfo.items() if k != "parameters"}
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=target.parent)  # short: any name fits
    try:
        with os.fdopen(fd, "wb") as f:
            write_image(params.image, f, ext, info, jpeg_quality=options.jpeg_quality,
                        webp_lossless=options.webp_lossless, enable_pnginfo=options.enable_pnginfo,
                        extra_pnginfo=extra)
            f.flush()
            os.fsync(f.fileno())
        final = _final_name(target, options.save_images_replace_action)
        os.replace(tmp, final)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return final


def remove_stale_temps(root: Path, older_than: float | None = None) -> int:
    """Delete the temp files that saves interrupted by a crash left under `root` (at start-up);
    only those last written before `older_than` (a time stamp), so a save running now is safe."""
    removed = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if older_than is None or os.stat(path).st_mtime < older_than:
                    os.unlink(path)
                    removed += 1
    return removed


def save_image(
    image: Image.Image,
    directory: str | os.PathLike[str],
    basename: str = "",
    *,
    seed: int | None = None,
    prompt: str | None = None,
    extension: str = "png",
    info: str | None = None,
    options: SaveOptions | None = None,
    context: FilenameContext | None = None,
    suffix: str = "",
    grid: bool = False,
    short_filename: bool | None = None,
    no_prompt: bool = False,
    save_to_dirs: bool | None = None,
    forced_filename: str | None = None,
    existing_info: Mapping[str, str] | None = None,
    before_save: Callable[[SaveParams], None] | None = None,
) -> tuple[str, str | None]:
    """Save one image (or grid) and return (image path, .txt path or None).

    Grids pass `basename="grid", grid=True`; their name is short unless `grid_extended_filename`.
    `seed` and `prompt` override the context's (per-image values of a batch).
    """
    options = options or SaveOptions()
    ctx = dataclasses.replace(context or FilenameContext(), **_overrides(seed, prompt))
    namegen = FilenameGenerator(ctx, image, max_length=options.filenames_max_length,
                                unix_sanitization=options.unix_filenames_sanitization,
                                max_prompt_words=options.directories_max_prompt_words)
    ext = normalize_format(extension)
    if not fits_format(image, ext):
        log.warning("image %dx%d too large for %s; saving as PNG", image.width, image.height, ext)
        ext = "png"
    folder = _directory(Path(directory), namegen, options, grid, save_to_dirs, no_prompt)
    folder.mkdir(parents=True, exist_ok=True)
    if forced_filename is not None:
        path = _fit_name(confined_file(folder, f"{without_separators(forced_filename)}.{ext}"), ext)
    else:
        short = (grid and not options.grid_extended_filename) if short_filename is None else short_filename
        path = _numbered_path(folder, basename, namegen, options, short, suffix, ext)
    params = SaveParams(image, str(path), {**(existing_info or {})})
    if info is not None:
        params.pnginfo["parameters"] = info
    if before_save is not None:
        before_save(params)
    ext = _hook_extension(params.filename, ext)
    info = params.pnginfo.get("parameters")
    final = _write_atomically(params, ext, info, options)
    if options.export_for_4chan:
        _export_jpeg_copy(params, final, info, options)
    return str(final), _write_txt(final, info) if options.save_txt and info is not None else None


def _export_jpeg_copy(params: SaveParams, final: Path, info: str | None, options: SaveOptions) -> None:
    """A1111's `export_for_4chan`: a .jpg beside files over the size threshold or side limit."""
    image, side = params.image, options.target_side_length
    oversize = max(image.size) > side
    if not oversize and (final.stat().st_size <= options.img_downscale_threshold * 1024 * 1024
                         or final.suffix.lower() in (".jpg", ".jpeg")):
        return
    if oversize:
        scale = side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    copy = SaveParams(image, str(final.with_suffix(".jpg")), params.pnginfo)
    try:
        replace = dataclasses.replace(options, save_images_replace_action="Replace")
        _write_atomically(copy, "jpg", info, replace)
    except (OSError, ValueError) as e:
        log.warning("could not write the downscaled JPG copy of %s: %s", final, e)


def _overrides(seed: int | None, prompt: str | None) -> dict[str, Any]:
    return {k: v for k, v in (("seed", seed), ("prompt", prompt)) if v is not None}


def _hook_extension(filename: str, ext: str) -> str:
    """A hook may rename the file; its extension then decides the format."""
    suffix = Path(filename).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else ext


def _write_txt(image_path: Path, info: str) -> str:
    txt = image_path.with_suffix(".txt")
    write_durably(txt, f"{info}\n", backup=False)
    return str(txt)
