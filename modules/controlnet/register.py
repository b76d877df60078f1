"""Wire ControlNet into the app at start-up (listed in modules/features.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.controlnet.feature import ControlNetFeature
from modules.controlnet.service import ControlNetService

DEMO_CONTROLNET_DIR = "ControlNet"  # beside the demo checkpoint, in models-demo/
DETECTED_MAPS_DIR = "detected_maps"  # the extension's default `control_net_detectedmap_dir`


def model_dirs(paths: Any) -> list[Path]:
    """models/ControlNet, the --controlnet-dir folder, and the demo ControlNet's folder."""
    dirs = [Path(paths.models_dir) / "ControlNet", Path(paths.controlnet_dir)]
    if paths.demo_model is not None:
        dirs.append(Path(paths.demo_model).parent / DEMO_CONTROLNET_DIR)
    return list(dict.fromkeys(dirs))


def register(runtime: Any) -> None:
    service = ControlNetService(model_dirs(runtime.paths), runtime.paths.annotator_dir,
                                Path(runtime.paths.data_dir) / DETECTED_MAPS_DIR)
    runtime.controlnet = service
    feature = ControlNetFeature(service)
    runtime.features.register(feature)
    runtime.hooks.register("after_job", feature.result_maps.append_to_result, owner="ControlNet")
    runtime.hooks.register("after_image", feature.inpaint_paste.apply, owner="ControlNet")
