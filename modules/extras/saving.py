"""Save an Extras result: `outputs/extras-images/` (or the batch output folder), keeping the
picture's own generation parameters and adding the postprocessing text as its own PNG chunk."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from modules.images.saving import SaveOptions, save_image


def extras_folder(settings: Mapping[str, Any], data_dir: Path) -> Path:
    folder = Path(settings.get("outdir_samples") or settings.get("outdir_extras_samples") or "outputs/extras-images")
    return folder if folder.is_absolute() else data_dir / folder


def save_extras_image(image: Image.Image, postprocess_text: str, folder: Path, settings: Mapping[str, Any],
                      *, generation_params: str | None = None, basename: str | None = None) -> str:
    """Write one result; with `basename` (batch from directory) the file keeps its source name."""
    options = SaveOptions.from_settings(settings)
    existing = {"postprocessing": postprocess_text, "extras": postprocess_text} if postprocess_text else {}
    path, _ = save_image(image, folder, "", extension=options.samples_format, info=generation_params,
                         options=options, short_filename=True, no_prompt=True, save_to_dirs=False,
                         forced_filename=basename, existing_info=existing)
    return path
