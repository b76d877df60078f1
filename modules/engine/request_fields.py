"""The one table of request parameters that travel in infotexts.

Each row links a request field (its API name; the `GenerationRequest` attribute where one
exists) to its infotext key, its type, and where a pasted infotext fills it: the API's
`infotext` request field (per request mode) and the UI tabs' paste buttons. Both paste directions
are built from this table, so a feature that adds request fields (hires fix, ControlNet) adds
rows here instead of editing two paste tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modules.engine.request import INPAINTING_FILL

BOTH = frozenset({"txt2img", "img2img"})
TXT2IMG = frozenset({"txt2img"})
IMG2IMG = frozenset({"img2img"})
NONE: frozenset[str] = frozenset()


def convert_kind(kind: str, value: Any) -> Any:
    """Infotext values are strings ("20", "7.0", "True"); give them the field's type."""
    if kind == "int":
        return int(float(value))
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if kind == "list":
        return list(value) if isinstance(value, (list, tuple)) else [str(value)]
    return str(value)


@dataclass(frozen=True)
class RequestField:
    """One request parameter and its infotext key."""

    attr: str  # API field name (= GenerationRequest attribute where one exists)
    infotext: str  # infotext key ("Size-1" is the first half of "Size: 512x768")
    kind: str  # "str" | "int" | "float" | "bool" | "list"
    label: str | None = None  # the UI widget's label (A1111's)
    api_modes: frozenset[str] = BOTH  # API request modes that take it from a pasted infotext
    ui_tabs: frozenset[str] = TXT2IMG  # UI tabs whose paste button fills it
    convert: Callable[[Any], Any] | None = None  # infotext string -> value, when not by `kind`

    def to_value(self, raw: Any) -> Any:
        return self.convert(raw) if self.convert is not None else convert_kind(self.kind, raw)


def _fill_index(value: Any) -> int:
    text = str(value).strip()
    return INPAINTING_FILL.index(text) if text in INPAINTING_FILL else int(text)


REQUEST_FIELDS: tuple[RequestField, ...] = (
    RequestField("prompt", "Prompt", "str", "Prompt"),
    RequestField("negative_prompt", "Negative prompt", "str", "Negative prompt"),
    RequestField("styles", "Styles array", "list", "Styles"),
    RequestField("steps", "Steps", "int", "Sampling steps"),
    RequestField("sampler_name", "Sampler", "str", "Sampling method"),
    RequestField("scheduler", "Schedule type", "str", "Schedule type"),
    RequestField("cfg_scale", "CFG scale", "float", "CFG Scale"),
    RequestField("seed", "Seed", "int", "Seed"),
    RequestField("width", "Size-1", "int", "Width"),
    RequestField("height", "Size-2", "int", "Height"),
    RequestField("batch_size", "Batch size", "int", "Batch size", ui_tabs=NONE),
    RequestField("subseed", "Variation seed", "int", "Variation seed"),
    RequestField("subseed_strength", "Variation seed strength", "float", "Variation strength"),
    RequestField("seed_resize_from_w", "Seed resize from-1", "int", "Resize seed from width"),
    RequestField("seed_resize_from_h", "Seed resize from-2", "int", "Resize seed from height"),
    RequestField("denoising_strength", "Denoising strength", "float", "Denoising strength"),
    RequestField("restore_faces", "Face restoration", "bool", "Restore faces", ui_tabs=BOTH,
                 convert=lambda v: True),  # the value is the restorer's name: present = on
    RequestField("tiling", "Tiling", "bool", "Tiling", api_modes=NONE),
    # hires fix (txt2img); "enable_hr" is set by the paste code when these keys are present
    RequestField("hr_scale", "Hires upscale", "float", "Upscale by", api_modes=TXT2IMG),
    RequestField("hr_upscaler", "Hires upscaler", "str", "Upscaler", api_modes=TXT2IMG),
    RequestField("hr_second_pass_steps", "Hires steps", "int", "Hires steps", api_modes=TXT2IMG),
    RequestField("hr_resize_x", "Hires resize-1", "int", "Resize width to", api_modes=TXT2IMG),
    RequestField("hr_resize_y", "Hires resize-2", "int", "Resize height to", api_modes=TXT2IMG),
    RequestField("hr_sampler_name", "Hires sampler", "str", "Hires sampling method", api_modes=TXT2IMG),
    RequestField("hr_scheduler", "Hires schedule type", "str", "Hires schedule type", api_modes=TXT2IMG),
    RequestField("hr_prompt", "Hires prompt", "str", "Hires prompt", api_modes=TXT2IMG),
    RequestField("hr_negative_prompt", "Hires negative prompt", "str", "Hires negative prompt",
                 api_modes=TXT2IMG),
    # img2img / inpainting
    RequestField("image_cfg_scale", "Image CFG scale", "float", "Image CFG Scale", api_modes=IMG2IMG, ui_tabs=NONE),
    RequestField("mask_blur", "Mask blur", "int", "Mask blur", api_modes=IMG2IMG, ui_tabs=NONE),
    RequestField("inpainting_fill", "Masked content", "int", "Masked content", api_modes=IMG2IMG, ui_tabs=NONE,
                 convert=_fill_index),
    RequestField("inpaint_full_res", "Inpaint area", "bool", "Inpaint area", api_modes=IMG2IMG, ui_tabs=NONE,
                 convert=lambda v: str(v) == "Only masked"),
    RequestField("inpaint_full_res_padding", "Masked area padding", "int", "Only masked padding, pixels",
                 api_modes=IMG2IMG, ui_tabs=NONE),
    RequestField("inpainting_mask_invert", "Mask mode", "int", "Mask mode", api_modes=IMG2IMG, ui_tabs=NONE,
                 convert=lambda v: 1 if str(v) == "Inpaint not masked" else 0),
)


def api_paste_fields(mode: str) -> tuple[RequestField, ...]:
    """The fields a pasted infotext fills in an API request of `mode`."""
    return tuple(f for f in REQUEST_FIELDS if mode in f.api_modes)


def ui_paste_fields(tab: str) -> tuple[RequestField, ...]:
    """The fields a UI tab's paste button fills."""
    return tuple(f for f in REQUEST_FIELDS if tab in f.ui_tabs)
