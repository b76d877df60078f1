"""`modules.paths` (where things are) and `modules.images` (save_image) for extensions."""

from __future__ import annotations

from typing import Any

from modules.extensions.facades.importer import FacadeModule


def build_paths(runtime: Any) -> FacadeModule:
    paths = runtime.paths
    module = FacadeModule("modules.paths")
    module.script_path = str(paths.app_root)
    module.data_path = str(paths.data_dir)
    module.models_path = str(paths.models_dir)
    module.extensions_dir = str(paths.extensions_dir)
    module.extensions_builtin_dir = str(paths.app_root / "extensions-builtin")
    return module


def build_images(runtime: Any) -> FacadeModule:
    from modules.images.saving import save_image as ours

    def save_image(image: Any, path: str, basename: str, seed: Any = None, prompt: Any = None,
                   extension: str = "png", info: Any = None, short_filename: bool = False, no_prompt: bool = False,
                   grid: bool = False, pnginfo_section_name: str = "parameters", p: Any = None,
                   existing_info: Any = None, forced_filename: Any = None, suffix: str = "",
                   save_to_dirs: Any = None) -> tuple[str, str | None]:
        """A1111's signature; writes the infotext (`info`) into the file as our saver does."""
        return ours(image, path, basename, seed=seed, prompt=prompt, extension=extension, info=info,
                    grid=grid, short_filename=short_filename, no_prompt=no_prompt, save_to_dirs=save_to_dirs,
                    forced_filename=forced_filename, suffix=suffix, existing_info=existing_info)

    module = FacadeModule("modules.images")
    module.save_image = save_image
    return module
