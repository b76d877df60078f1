"""ControlNet as a job feature: reads `alwayson_scripts.controlnet`, contributes a UNet wrapper.

Per pass it preprocesses each enabled unit's image (the unit's own, else the img2img input),
fits the detected map to the pass's size with the unit's resize mode (pixel perfect picks the
processor resolution), registers the unit's model as a cache handle placed beside the UNet, and
writes the unit's `ControlNet N` infotext entry. `hr_option` decides which passes a unit joins.
A unit's effective region mask limits where its residuals apply; a Low VRAM unit's model is not
placed beside the UNet for the pass but borrowed onto the device for each of its calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from modules.controlnet.adapter_loading import is_t2i_adapter
from modules.controlnet.control_image import fit_to_size, hint_tensor, pixel_perfect_resolution
from modules.controlnet.infotext import unit_infotext
from modules.controlnet.injection import ActiveUnit, ControlNetWrapper
from modules.controlnet.inpaint_only import INPAINT_ONLY, InpaintOnlyPaste, blur_sigma
from modules.controlnet.model_files import is_none_model
from modules.controlnet.result_maps import NO_DETECTMAP, ResultMaps
from modules.controlnet.service import ControlNetService
from modules.controlnet.unit import ControlNetUnit, HiresOption, parse_units
from modules.controlnet.unit_masks import (
    fit_inpaint_mask,
    inpaint_hint,
    inpaint_mask,
    is_inpaint_module,
    region_mask_tensor,
    scribble_input,
    visible_inpaint_map,
)
from modules.controlnet.validation import module_resolver

SCRIPT_KEY = "controlnet"
IGNORE_NONINPAINT_MASK = "controlnet_ignore_noninpaint_mask"  # the extension's setting


def request_units(req: Any, service: ControlNetService) -> list[ControlNetUnit]:
    """The request's units (all of them, enabled or not), validated."""
    payload = _script_payload(getattr(req, "alwayson_scripts", {}) or {})
    if payload is None:
        return []
    masked = getattr(req, "mode", "") == "img2img" and getattr(req, "mask", None) is not None
    return parse_units(payload, module_resolver(service, masked))


def _script_payload(scripts: Any) -> Any:
    for name, value in scripts.items():
        if str(name).lower() == SCRIPT_KEY:
            return value
    return None


def unit_joins_pass(unit: ControlNetUnit, pass_index: int, pass_name: str, job_has_hires: bool) -> bool:
    """`hr_option`: Both, Low res only (first pass), High res only (the hires pass; the first pass
    when the job has none). Other later passes (a refiner, another model) take no units."""
    if pass_index == 0:
        return not (unit.hr_option is HiresOption.HIGH_RES_ONLY and job_has_hires)
    if pass_name == "hires":
        return unit.hr_option is not HiresOption.LOW_RES_ONLY
    return False


@dataclass
class PreparedUnit:
    """A unit's detected map and the resolved processor values (for the infotext)."""

    unit: ControlNetUnit
    detected: np.ndarray
    source: Image.Image  # the control input the preprocessor ran on
    processor_res: int
    threshold_a: float
    threshold_b: float


def unit_image(unit: ControlNetUnit, req: Any, index: int, ignore_noninpaint_mask: bool = False) -> Image.Image:
    """The unit's control input: its image (for a non-inpaint unit, a drawn mask replaces it, as
    the extension's canvas scribble does), else the img2img input image."""
    if unit.image is not None:
        if ignore_noninpaint_mask or is_inpaint_module(unit.module):
            return unit.image
        return scribble_input(unit.image, unit.mask)
    init = tuple(getattr(req, "init_images", ()) or ())
    if init:
        return init[0]
    raise ValueError(f"ControlNet unit {index} has no image: upload a control image to the unit "
                     "(in img2img an empty unit uses the input image)")


def prepare_unit(service: ControlNetService, unit: ControlNetUnit, req: Any, index: int, width: int,
                 height: int, ignore_noninpaint_mask: bool = False) -> PreparedUnit:
    """Run the unit's preprocessor (pixel perfect resolves the resolution from the target size)."""
    image = unit_image(unit, req, index, ignore_noninpaint_mask)
    res = unit.processor_res
    if unit.pixel_perfect:
        res = pixel_perfect_resolution((image.height, image.width), (height, width), unit.resize_mode)
    seed = int(getattr(req, "seed", 0) or 0) & 0xFFFFFFFF
    detected, call = service.detect(unit.module, image, res, unit.threshold_a, unit.threshold_b, seed)
    pre = service.preprocessors.get(unit.module)
    return PreparedUnit(unit, detected, image, call.resolution if pre.uses_resolution else -1,
                        call.threshold_a, call.threshold_b)


class ControlNetFeature:
    """The job feature (see modules/engine/features.py)."""

    name = "ControlNet"

    def __init__(self, service: ControlNetService) -> None:
        self.service = service
        self.result_maps = ResultMaps()  # appended to the result by the `after_job` hook (register.py)
        self.inpaint_paste = InpaintOnlyPaste()  # applied to each picture by an `after_image` hook

    def contribute(self, setup: Any, pass_: Any) -> Any:
        from modules.engine.features import Contribution

        if pass_.index == 0:
            self.result_maps.start(setup.req, wanted=not setup.settings.get(NO_DETECTMAP, False))
            self.inpaint_paste.start(setup.req)
        units = [(i, u) for i, u in enumerate(request_units(setup.req, self.service)) if u.enabled]
        has_hires = bool(getattr(setup.req, "enable_hr", False))
        units = [(i, u) for i, u in units if unit_joins_pass(u, pass_.index, pass_.spec.name, has_hires)]
        if not units:
            return None
        contribution = Contribution()
        active = []
        ignore_mask = bool(setup.settings.get(IGNORE_NONINPAINT_MASK, False))
        for index, unit in units:
            prepared = prepare_unit(self.service, unit, setup.req, index, pass_.spec.width, pass_.spec.height,
                                    ignore_mask)
            if pass_.index == 0 and unit.save_detected_map and unit.module != "none" and bool(
                    setup.settings.get("control_net_detectmap_autosaving", False)):
                self.service.save_detected_map(unit.module, prepared.detected)
            shown, hints = control_of(prepared, setup.req, pass_.spec.width, pass_.spec.height)
            if unit.module == INPAINT_ONLY:
                self.inpaint_paste.put(setup.req, index, shown, blur_sigma(setup.settings))
            if unit.save_detected_map:
                self.result_maps.put(setup.req, index, shown)
            title = "None"
            if not is_none_model(unit.model):
                entry = self.service.find_model(unit.model)
                title = entry.title
                active.append(self._active(setup, pass_, index, unit, hints, entry, contribution))
            contribution.infotext[f"ControlNet {index}"] = unit_infotext(
                unit, title, prepared.processor_res, prepared.threshold_a, prepared.threshold_b)
        if active:
            contribution.unet_wrappers.append(ControlNetWrapper(active, pass_.model.latent_channels))
        return contribution

    def _active(self, setup: Any, pass_: Any, index: int, unit: ControlNetUnit, hints: Any, entry: Any,
                contribution: Any) -> ActiveUnit:
        cache = setup.models
        placement = None
        if cache is not None:
            key = self.service.register_handle(cache, entry, pass_.model)
            cache.module(key)  # load now: a wrong-family model fails before sampling starts
            if unit.low_vram:
                placement = lambda: cache.borrow(key)  # noqa: E731  (on the device per call only)
            elif key not in contribution.models:
                contribution.models.append(key)
            net_of = lambda: cache.module(key)  # noqa: E731
        else:
            net = self.service.load_direct(entry, pass_.model)
            net_of = lambda: net  # noqa: E731
        width, height = pass_.spec.width, pass_.spec.height
        crop = inpaint_region(setup.req, width, height) if unit.inpaint_crop_input_image else None
        region = None
        if unit.effective_region_mask is not None:
            region = region_mask_tensor(unit.effective_region_mask, width, height, crop).to(setup.device)
        return ActiveUnit(index=index, net=net_of, hints=hints.to(setup.device), weight=unit.weight,
                          guidance_start=unit.guidance_start, guidance_end=unit.guidance_end,
                          control_mode=unit.control_mode,
                          global_pooling=bool(getattr(net_of(), "controlnet_global_pooling", False)),
                          region_mask=region, placement=placement, is_adapter=is_t2i_adapter(net_of()))


def control_of(prepared: PreparedUnit, req: Any, width: int, height: int) -> tuple[np.ndarray, Any]:
    """(the map shown after the pictures, the hint tensor) at the pass's size. An inpaint unit's
    hint is -1 where its mask says to repaint, and its map shows that area half transparent."""
    unit = prepared.unit
    fitted = fit_to_size(inpaint_crop(prepared.detected, unit, req, width, height), width, height, unit.resize_mode)
    if not is_inpaint_module(unit.module):
        return fitted, hint_tensor(fitted, width, height, unit.resize_mode)
    crop = inpaint_region(req, width, height) if unit.inpaint_crop_input_image else None
    mask = inpaint_mask(unit.mask, req, prepared.source, unit.image is not None)
    fitted_mask = fit_inpaint_mask(mask, width, height, unit.resize_mode, crop)
    return visible_inpaint_map(fitted, fitted_mask), inpaint_hint(fitted, fitted_mask)


def inpaint_region(req: Any, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int, int, int]] | None:
    """(init image size, crop box) of an "Only masked" inpaint job, computed as the engine does."""
    if getattr(req, "mode", "") != "img2img" or req.mask is None or not req.inpaint_full_res or not req.init_images:
        return None
    from modules.engine.masks import blur_mask, crop_region, expand_to_aspect, read_mask
    from modules.engine.resize import limit_pixels

    size = limit_pixels(req.init_images[0]).size
    mask = blur_mask(read_mask(req.mask, size, bool(req.inpainting_mask_invert)), req.mask_blur_x, req.mask_blur_y)
    region = crop_region(mask, req.inpaint_full_res_padding)
    if region is None:
        return None
    return size, expand_to_aspect(region, width, height, size[0], size[1])


def inpaint_crop(detected: np.ndarray, unit: ControlNetUnit, req: Any, width: int, height: int) -> np.ndarray:
    """With "Only masked", the control map gets the same crop as the init image (the map is first
    fitted to the init image's size, so the two line up), unless the unit opts out."""
    found = inpaint_region(req, width, height) if unit.inpaint_crop_input_image else None
    if found is None:
        return detected
    from modules.controlnet.control_image import fit_to_size
    from modules.controlnet.unit import ResizeMode

    (w, h), (left, top, right, bottom) = found
    whole = fit_to_size(detected, w, h, unit.resize_mode)
    return fit_to_size(np.ascontiguousarray(whole[top:bottom, left:right]), width, height, ResizeMode.RESIZE_AND_FILL)
