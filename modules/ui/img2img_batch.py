"""img2img's Batch sub-tab: every picture of a folder on the server becomes one request, and the
finished jobs are shown as one gallery.

Reading a server folder is the Batch tab's own way of taking pictures, so it lives with the UI,
not the engine: each picture becomes one ordinary request, and the queue, progress and saving
work for it as for a single picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image

from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.validation import InvalidRequestError
from modules.images.codec import InputImageTooLargeError, check_pixels
from modules.ui.img2img_form import Img2ImgForm

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


FolderCheck = Callable[[str, str], Path]  # (folder text, which field) -> the allowed folder


def _any_folder(text: str, _what: str) -> Path:
    return Path(text).expanduser()


def batch_files(folder: str, check: FolderCheck = _any_folder) -> list[Path]:
    """The pictures in the input folder, sorted by name; a clear error when it is not there."""
    path = check(folder, "Batch input directory") if folder else Path("")
    if not folder or not path.is_dir():
        raise InvalidRequestError(
            f"Batch input directory {folder!r} does not exist; enter a folder on the server"
        )
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InvalidRequestError(
            f"Batch input directory {folder!r} holds no pictures ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _batch_mask(mask_dir: str, picture: Path, check: FolderCheck = _any_folder) -> Image.Image | None:
    if not mask_dir:
        return None
    matches = [
        p for p in check(mask_dir, "Batch mask directory").glob(picture.stem + ".*")
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return Image.open(matches[0]) if matches else None


def batch_requests(form: Img2ImgForm, make: Callable[..., GenerationRequest], check: FolderCheck = _any_folder,
                   max_pixels: int | None = None) -> list[GenerationRequest]:
    """One request per picture of the input folder (with its same-named mask, if a mask folder is
    given); results go to the output folder when one is set, else to the usual img2img folder.
    `check` confines the folders (the data folder and --allowed-output-dir ones); pictures over
    `max_pixels` are refused from their header."""
    out_dir = (form.batch_output_dir or "").strip() or None
    if out_dir:
        check(out_dir, "Batch output directory")
    requests = []
    for picture in batch_files(form.batch_input_dir, check):
        try:
            with Image.open(picture) as opened:
                check_pixels(opened, max_pixels)
                image = opened.copy()
        except InputImageTooLargeError as e:
            raise InvalidRequestError(f"{picture.name}: {e}") from e
        except OSError as e:
            raise InvalidRequestError(f"{picture.name} is not a readable picture: {e}") from e
        req = make(init_image=image, mask=_batch_mask(form.batch_mask_dir, picture, check))
        requests.append(replace(req, outpath_samples=out_dir, save_images=True))
    return requests


def merge_results(results: list[GenerationResult]) -> GenerationResult:
    """One gallery for a Batch run: the pictures (not grids) of every job, in order."""
    if len(results) == 1:
        return results[0]
    merged = GenerationResult([], [], [], [], [], [])
    for r in results:
        first = r.index_of_first_image
        merged.images += r.images[first:]
        merged.infotexts += r.infotexts[first:]
        merged.seeds += r.seeds
        merged.subseeds += r.subseeds
        merged.prompts += r.prompts
        merged.negative_prompts += r.negative_prompts
        merged.saved_paths += r.saved_paths
        merged.comments += r.comments
        merged.interrupted = merged.interrupted or r.interrupted
    return merged
