"""Upscale one picture as the Extras tab does, and describe what was done (its infotext).

Resize by multiplies both sides; resize to scales so the picture covers the asked size and, with
crop, cuts the centre out at exactly that size (without crop the picture keeps its aspect ratio).
A second upscaler runs on the same input and is blended over the first by its visibility.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from modules.extras.params import ExtrasParams
from modules.upscalers.catalog import UpscalerCatalog


@dataclass
class ExtrasOutput:
    image: Image.Image
    info: dict[str, Any] = field(default_factory=dict)  # A1111's "Postprocess ..." entries

    @property
    def infotext(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.info.items())


def _scale_for(image: Image.Image, p: ExtrasParams) -> float:
    if p.resize_mode == 1:
        return max(p.upscaling_resize_w / image.width, p.upscaling_resize_h / image.height)
    return p.upscaling_resize


def _center_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


# A1111's Extras operations (its postprocessing scripts' names) in their own order (1000, 2000, 3000)
OPERATIONS = ("Upscale", "GFPGAN", "CodeFormer")


def operation_order(settings: Mapping[str, Any] | None) -> list[str]:
    """The operations in the order they run: those named in the setting `postprocessing_operation_order`
    first, in its order, then the rest in their own order (as A1111 sorts its postprocessing scripts)."""
    chosen = list((settings or {}).get("postprocessing_operation_order") or [])
    ranked = {name: (chosen.index(name) if name in chosen else len(OPERATIONS), i) for i, name in enumerate(OPERATIONS)}
    return sorted(OPERATIONS, key=ranked.__getitem__)


def restore_for_extras(out: ExtrasOutput, p: ExtrasParams, faces: Any, name: str,
                       settings: Mapping[str, Any] | None = None) -> None:
    """One face restorer (GFPGAN or CodeFormer) blended by its visibility; 0 skips it."""
    from modules.face_restoration.run import restore_faces

    visibility = p.gfpgan_visibility if name == "GFPGAN" else p.codeformer_visibility
    if visibility <= 0:
        return
    weight = p.codeformer_weight if name == "CodeFormer" else 0.5
    unload = bool((settings or {}).get("face_restoration_unload", False))
    out.image = restore_faces(out.image, name, faces, visibility, weight=weight, unload=unload)
    out.info[f"{name} visibility"] = f"{visibility:g}"
    if name == "CodeFormer":
        out.info["CodeFormer weight"] = f"{p.codeformer_weight:g}"


def run_extras_steps(image: Image.Image, p: ExtrasParams, catalog: UpscalerCatalog,
                     settings: Mapping[str, Any] | None = None, on_tile: Callable[[int, int], None] | None = None,
                     faces: Any = None) -> ExtrasOutput:
    """Upscaling and face restoration in A1111 1.10's order: Upscale, GFPGAN, CodeFormer unless the
    setting `postprocessing_operation_order` says otherwise. `upscale_first` is accepted and, as in
    A1111 1.10, has no effect. The infotext lists the operations in the order they ran."""
    out = ExtrasOutput(image)
    for name in operation_order(settings):
        if name == "Upscale":
            done = upscale_for_extras(out.image, p, catalog, settings, on_tile)
            out = ExtrasOutput(done.image, {**out.info, **done.info})
        else:
            restore_for_extras(out, p, faces, name, settings)
    return out


def upscale_for_extras(image: Image.Image, p: ExtrasParams, catalog: UpscalerCatalog,
                       settings: Mapping[str, Any] | None = None,
                       on_tile: Callable[[int, int], None] | None = None) -> ExtrasOutput:
    """The upscale step of Extras; upscaler_1 "None" leaves the picture as it is (as in A1111)."""
    p.validate()
    out = ExtrasOutput(image)
    if (p.upscaler_1 or "None") == "None":
        return out
    scale = _scale_for(image, p)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    first = catalog.upscale(image, p.upscaler_1, size=size, settings=settings, on_tile=on_tile)
    if p.resize_mode == 1:
        out.info["Postprocess upscale to"] = f"{p.upscaling_resize_w}x{p.upscaling_resize_h}"
    else:
        out.info["Postprocess upscale by"] = f"{p.upscaling_resize:g}"
    out.info["Postprocess upscaler"] = catalog.resolve(p.upscaler_1).name
    if (p.upscaler_2 or "None") != "None" and p.extras_upscaler_2_visibility > 0:
        second = catalog.upscale(image, p.upscaler_2, size=size, settings=settings, on_tile=on_tile)
        first = Image.blend(first.convert("RGB"), second.convert("RGB"), p.extras_upscaler_2_visibility)
        out.info["Postprocess upscaler 2"] = catalog.resolve(p.upscaler_2).name
        out.info["Postprocess upscaler 2 visibility"] = f"{p.extras_upscaler_2_visibility:g}"
    if p.resize_mode == 1 and p.upscaling_crop:
        first = _center_crop(first, p.upscaling_resize_w, p.upscaling_resize_h)
        out.info["Postprocess crop to"] = f"{p.upscaling_resize_w}x{p.upscaling_resize_h}"
    out.image = first
    return out
