"""Setting rules that need to know the running server: its folders and its samplers.

Added to the settings store at start-up (`install_checks`), so that writes through the API,
the UI and `override_settings` are refused with a 422, and stored values that break them are
reset to their default with a warning (instead of the next start or generation failing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from modules.settings.store import SettingsStore
from modules.settings.validation import SettingsError
from modules.storage.output_folders import OutsideDataFolderError, resolve_output_folder

FOLDER_KEYS = ("outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples", "outdir_extras_samples",
               "outdir_grids", "outdir_txt2img_grids", "outdir_img2img_grids", "outdir_save")


def folder_check(key: str, data_dir: Path, allowed: Iterable[Path]) -> Callable[[Any], None]:
    roots = tuple(allowed)

    def check(value: Any) -> None:
        if not value:
            return
        try:
            resolve_output_folder(str(value), data_dir, roots, what=f"setting {key!r}:")
        except OutsideDataFolderError as e:
            raise SettingsError(str(e)) from e

    return check


def samplers_check(all_names: Iterable[str]) -> Callable[[Any], None]:
    names = tuple(all_names)

    def check(value: Any) -> None:
        hidden = set(value or ())
        if names and all(name in hidden for name in names):
            raise SettingsError(f"setting 'hide_samplers' would hide every sampler; keep at least one of {list(names)}")

    return check


def install_checks(settings: SettingsStore, data_dir: Path, allowed: Iterable[Path],
                   sampler_names: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for key in FOLDER_KEYS:
        settings.add_check(key, folder_check(key, data_dir, allowed))
    settings.add_check("hide_samplers", samplers_check(sampler_names))
