"""The output panel's Save and Zip buttons: copies of shown images into `log/images`, plus `log.csv`.

A1111 users keep `log/images/log.csv` as a record of the pictures they chose to keep; the row
layout is A1111's so their spreadsheets keep working. Only the selected image is saved when
one is selected (A1111's `save_selected_only`); selecting the grid saves everything.
"""

from __future__ import annotations

import csv
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.engine.request import GenerationResult
from modules.images.filenames import FilenameContext
from modules.images.saving import SaveOptions, save_image

LOG_CSV_FIELDS = ("prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename",
                  "negative_prompt", "sd_model_name", "sd_model_hash")


class NothingToSaveError(ValueError):
    """The gallery is empty: generate something first."""


@dataclass
class SaveOutcome:
    files: list[str] = field(default_factory=list)
    zip_file: str | None = None

    def message(self) -> str:
        names = ", ".join(Path(f).name for f in self.files)
        text = f"Saved: {names}" if len(self.files) <= 4 else f"Saved {len(self.files)} files"
        return text + (f"; zip: {Path(self.zip_file).name}" if self.zip_file else "")


def chosen_indices(result: GenerationResult, selected: int | None, selected_only: bool = True) -> list[int]:
    """Indices into `result.images` that Save writes (A1111 rules: a selected grid means all)."""
    if not result.images:
        raise NothingToSaveError("there is no image to save yet: generate one first")
    first = result.index_of_first_image
    if selected is not None and selected_only and first <= selected < len(result.images):
        return [selected]
    return list(range(len(result.images)))


def _context(result: GenerationResult, image_no: int) -> FilenameContext:
    info = result.info
    return FilenameContext(
        seed=result.seeds[image_no] if image_no < len(result.seeds) else info.get("seed"),
        prompt=result.prompts[image_no] if image_no < len(result.prompts) else info.get("prompt", ""),
        negative_prompt=info.get("negative_prompt", "") or "", all_seeds=tuple(result.seeds),
        steps=info.get("steps"), cfg_scale=info.get("cfg_scale"), sampler_name=info.get("sampler_name"),
        model_hash=info.get("sd_model_hash"), model_name=info.get("sd_model_name"),
        job_timestamp=info.get("job_timestamp"), batch_size=int(info.get("batch_size", 1) or 1))


def _append_log_csv(log_dir: Path, result: GenerationResult, first_file: str) -> None:
    path = log_dir / "log.csv"
    new = not path.exists()
    info = result.info
    seed = result.seeds[0] if result.seeds else info.get("seed", "")
    row = [info.get("prompt", ""), seed, info.get("width", ""), info.get("height", ""),
           info.get("sampler_name", ""), info.get("cfg_scale", ""), info.get("steps", ""),
           Path(first_file).name, info.get("negative_prompt", ""), info.get("sd_model_name", ""),
           info.get("sd_model_hash", "")]
    with open(path, "a", encoding="utf8", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(LOG_CSV_FIELDS)
        writer.writerow(row)


def _zip(log_dir: Path, result: GenerationResult, files: list[str]) -> str:
    seeds = result.seeds or [0]
    model = result.info.get("sd_model_name") or "model"
    name = f"{time.strftime('%Y%m%d%H%M%S')}_[{model}]_{seeds[0]}-{seeds[-1]}.zip"
    target = log_dir / name
    with zipfile.ZipFile(target, "w") as zf:
        for file in files:
            zf.write(file, arcname=Path(file).name)
    return str(target)


def save_shown_images(result: GenerationResult, selected: int | None, log_dir: Path,
                      settings: Mapping[str, Any], *, make_zip: bool = False, **flags: Any) -> SaveOutcome:
    """Save the chosen images with their infotext; `flags` are SaveOptions' command-line fields."""
    indices = chosen_indices(result, selected, bool(settings.get("save_selected_only", True)))
    options = SaveOptions.from_settings(settings, **flags)
    extension = str(settings.get("samples_format", "png") or "png")
    to_dirs = bool(settings.get("use_save_to_dirs_for_ui", False))
    outcome = SaveOutcome()
    for index in indices:
        is_grid = index < result.index_of_first_image
        image_no = 0 if is_grid else index - result.index_of_first_image
        infotext = result.infotexts[index] if index < len(result.infotexts) else None
        path, txt = save_image(result.images[index], log_dir, "grid" if is_grid else "", extension=extension,
                               info=infotext, options=options, context=_context(result, image_no),
                               grid=is_grid, save_to_dirs=to_dirs)
        outcome.files.append(path)
        if txt:
            outcome.files.append(txt)
    _append_log_csv(log_dir, result, outcome.files[0])
    if make_zip:
        outcome.zip_file = _zip(log_dir, result, outcome.files)
    return outcome
