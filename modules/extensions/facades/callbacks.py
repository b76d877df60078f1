"""`modules.script_callbacks`: A1111's on_* registrations, each owned by the extension that made it.

UI/app callbacks are kept by the host (called when the page and the app are built); the job
callbacks are adapters on the hook host (`runtime.hooks`), so they run isolated like every hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.extensions.facades.importer import FacadeModule


@dataclass
class CFGDenoiserParams:
    x: Any
    image_cond: Any
    sigma: Any
    sampling_step: int
    total_sampling_steps: int
    text_cond: Any
    text_uncond: Any
    denoiser: Any = None


@dataclass
class ImageSaveParams:
    image: Any
    p: Any
    filename: str
    pnginfo: dict[str, Any]


def _cfg_adapter(fn: Any) -> Any:
    def hook(payload: Any) -> None:
        params = CFGDenoiserParams(payload.x, None, payload.sigma, payload.step, getattr(payload, "total_steps", 0),
                                   payload.cond, payload.uncond)
        fn(params)
        payload.x = params.x
        payload.cond, payload.uncond = params.text_cond, params.text_uncond

    return hook


def _save_adapter(fn: Any) -> Any:
    def hook(payload: Any) -> None:
        params = ImageSaveParams(payload.image, None, payload.path, {"parameters": payload.infotext})
        fn(params)
        payload.image = params.image

    return hook


def build(host: Any, owner: str) -> FacadeModule:
    hooks = host.runtime.hooks
    module = FacadeModule("modules.script_callbacks")
    module.CFGDenoiserParams = CFGDenoiserParams
    module.ImageSaveParams = ImageSaveParams

    def keep(name: str) -> Any:
        return lambda fn, *a, **k: host.add_callback(name, owner, fn)

    for name in ("ui_tabs", "ui_settings", "app_started", "script_unloaded", "before_ui", "after_component",
                 "before_component"):
        setattr(module, f"on_{name}", keep(name))
    module.on_cfg_denoiser = lambda fn, *a, **k: hooks.register("pre_cfg", _cfg_adapter(fn), owner=owner)
    module.on_before_image_saved = lambda fn, *a, **k: hooks.register("before_save", _save_adapter(fn), owner=owner)
    module.on_image_saved = lambda fn, *a, **k: hooks.register("after_save", _save_adapter(fn), owner=owner)
    module.on_model_loaded = lambda fn, *a, **k: hooks.register("on_model_loaded", lambda m: fn(m.model), owner=owner)
    module.on_infotext_pasted = lambda fn, *a, **k: hooks.register(
        "on_infotext_paste", lambda pl: fn(pl.text, pl.params), owner=owner)
    return module
