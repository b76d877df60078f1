"""The one table of request parameters: API name, type and default, value rules, infotext key
and converter, UI label.

Everything else is built from it: the API's request models (`modules/api/body_models.py`: field
names, types, defaults, schema bounds), the value checks of `engine/validation.py` (UI and API
alike, with the messages declared here), the API's `infotext` request field (per request mode)
and the UI tabs' paste buttons. A feature that adds request parameters (hires fix, a refiner,
ControlNet options) adds rows here; see docs/SEAMS.md, "Request fields".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modules.engine.field_rules import Choice, MultipleOf, Range, Rule, hires_on, hires_scale_used, positive
from modules.engine.request import INPAINTING_FILL, RESIZE_MODES

BOTH = frozenset({"txt2img", "img2img"})
TXT2IMG = frozenset({"txt2img"})
IMG2IMG = frozenset({"img2img"})
NONE: frozenset[str] = frozenset()

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_STEPS = 1000  # default of the `max_sampling_steps` setting (A1111's API has no bound; its slider stops at 150)
MAX_BATCH_IMAGES = 64
# Seeds go to torch generators as unsigned 64-bit numbers, seed + image index for a batch.
MAX_SEED = 2**64 - 1 - MAX_BATCH_IMAGES
MAX_MASK_BLUR = 256
MIN_HR_SCALE, MAX_HR_SCALE = 1.0, 8.0
MAX_HR_STEPS = 150
MASK_MODES = ("Inpaint masked", "Inpaint not masked")

KIND_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "list": list[str]}


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
class Slider:
    """A1111's slider for a field: start value, bounds and step as its UI shows them (the UI's
    bounds may be narrower than the rules: steps slide to 150, the API takes up to
    max_sampling_steps). `tab_values`: a tab's own start value (hires fix's denoising 0.7)."""

    value: float
    minimum: float
    maximum: float
    step: float
    tab_values: Mapping[str, float] = field(default_factory=dict, hash=False)

    def args(self, tab: str | None = None) -> dict[str, float]:
        value = self.tab_values.get(tab, self.value) if tab else self.value
        return {"value": value, "minimum": self.minimum, "maximum": self.maximum, "step": self.step}


@dataclass(frozen=True)
class RequestField:
    """One request parameter: how the API takes it, what values it allows, its infotext key."""

    attr: str  # API field name (= GenerationRequest attribute where one exists)
    infotext: str | None  # infotext key ("Size-1" is the first half of "Size: 512x768"); None: not pasted
    kind: str  # "str" | "int" | "float" | "bool" | "list"
    label: str | None = None  # the UI widget's label (A1111's)
    api_modes: frozenset[str] = BOTH  # API request modes that take it from a pasted infotext
    ui_tabs: frozenset[str] = TXT2IMG  # UI tabs whose paste button fills it
    convert: Callable[[Any], Any] | None = None  # infotext string -> value, when not by `kind`
    default: Any = None  # the API default (A1111's API, not its UI)
    bodies: frozenset[str] = BOTH  # API request bodies (modes) that carry the field
    nullable: bool | None = None  # the API accepts null; None: when the default is None
    mode_defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)  # a mode's own API default
    rules: tuple[Rule, ...] = ()  # allowed values, checked in this order
    description: str | None = None  # shown in /docs
    slider: Slider | None = None  # the UI slider's start value and bounds (A1111's), when it is one
    api_only: bool = False  # read by the API mapping itself (send_images...), never part of a request

    def to_value(self, raw: Any) -> Any:
        return self.convert(raw) if self.convert is not None else convert_kind(self.kind, raw)

    def api_default(self, mode: str) -> Any:
        return self.mode_defaults.get(mode, self.default)

    def api_nullable(self) -> bool:
        return self.default is None if self.nullable is None else self.nullable


def _fill_index(value: Any) -> int:
    text = str(value).strip()
    return INPAINTING_FILL.index(text) if text in INPAINTING_FILL else int(text)


def _size_rules(**where: Any) -> tuple[Rule, ...]:
    return (Range(low=MIN_SIZE, high=MAX_SIZE, message="{name} must be between {low} and {high} pixels, got {value}",
                  **where),
            MultipleOf(step=8, **where))


_SEED = Range(low=-1, high=MAX_SEED, message="{name} must be -1 (random) or from 0 to {high}, got {value}")
_AT_LEAST_ONE = Range(low=1, message="batch_size and n_iter (batch count) must be at least 1")
_HIRES_SIZE = Range(low=0, high=MAX_SIZE, message="{name} must be 0 (off) or up to {high} pixels, got {value}",
                    when=hires_on, group="hires")
_MASK_BLUR = Range(low=0, high=MAX_MASK_BLUR, message="{name} must be between 0 and {high} pixels, got {value}")
_HIRES = dict(api_modes=TXT2IMG, bodies=TXT2IMG)
_API_ONLY = dict(api_only=True)
_SIZE_SLIDER = Slider(512, 64, 2048, 8)
_RESIZE_SLIDER = Slider(0, 0, 2048, 8)
_IMG2IMG = dict(api_modes=IMG2IMG, ui_tabs=NONE, bodies=IMG2IMG)

REQUEST_FIELDS: tuple[RequestField, ...] = (
    # shared by txt2img and img2img (A1111's StableDiffusionProcessing), in the API's order
    RequestField("prompt", "Prompt", "str", "Prompt", default=""),
    RequestField("negative_prompt", "Negative prompt", "str", "Negative prompt", default=""),
    RequestField("styles", "Styles array", "list", "Styles"),
    RequestField("seed", "Seed", "int", "Seed", default=-1, rules=(_SEED,)),
    RequestField("subseed", "Variation seed", "int", "Variation seed", default=-1, rules=(_SEED,)),
    RequestField("subseed_strength", "Variation seed strength", "float", "Variation strength", default=0.0,
                 slider=Slider(0.0, 0.0, 1.0, 0.01),
                 rules=(Range(low=0, high=1, message="variation strength must be between 0 and 1, got {value}"),)),
    RequestField("seed_resize_from_h", "Seed resize from-2", "int", "Resize seed from height", default=-1,
                 slider=_RESIZE_SLIDER,
                 rules=_size_rules(when=positive)),
    RequestField("seed_resize_from_w", "Seed resize from-1", "int", "Resize seed from width", default=-1,
                 slider=_RESIZE_SLIDER,
                 rules=_size_rules(when=positive)),
    RequestField("sampler_name", "Sampler", "str", "Sampling method"),
    RequestField("scheduler", "Schedule type", "str", "Schedule type"),
    RequestField("batch_size", "Batch size", "int", "Batch size", ui_tabs=NONE, default=1, rules=(_AT_LEAST_ONE,),
                 slider=Slider(1, 1, 8, 1)),
    RequestField("n_iter", None, "int", "Batch count", default=1, rules=(_AT_LEAST_ONE,), slider=Slider(1, 1, 100, 1)),
    RequestField("steps", "Steps", "int", "Sampling steps", default=50, slider=Slider(20, 1, 150, 1), rules=(
        Range(low=1, high="max_steps", message="steps must be between 1 and {high}, got {value} "
                                               "(setting max_sampling_steps raises the bound)"),)),
    RequestField("cfg_scale", "CFG scale", "float", "CFG Scale", default=7.0, slider=Slider(7.0, 1.0, 30.0, 0.5),
                 rules=(Range(low=0, high=100, message="CFG scale must be between 0 and 100, got {value}"),)),
    RequestField("width", "Size-1", "int", "Width", default=512, rules=_size_rules(), slider=_SIZE_SLIDER),
    RequestField("height", "Size-2", "int", "Height", default=512, rules=_size_rules(), slider=_SIZE_SLIDER),
    RequestField("restore_faces", "Face restoration", "bool", "Restore faces", ui_tabs=BOTH,
                 convert=lambda v: True),  # the value is the restorer's name: present = on
    RequestField("tiling", "Tiling", "bool", "Tiling", api_modes=NONE),
    RequestField("do_not_save_samples", None, "bool", default=False, **_API_ONLY),
    RequestField("do_not_save_grid", None, "bool", default=False, **_API_ONLY),
    RequestField("eta", None, "float", "Eta"),
    RequestField("denoising_strength", "Denoising strength", "float", "Denoising strength",
                 mode_defaults={"img2img": 0.75},
                 slider=Slider(0.75, 0.0, 1.0, 0.01, tab_values={"txt2img": 0.7}), rules=(
                     Range(low=0, high=1, message="denoising strength must be between 0 and 1, got {value}",
                           modes=IMG2IMG),
                     Range(low=0, high=1, message="denoising_strength must be between 0 and 1, got {value}",
                           modes=TXT2IMG, when=hires_on, group="hires"))),
    RequestField("s_min_uncond", None, "float"),
    RequestField("s_churn", None, "float"),
    RequestField("s_tmax", None, "float"),
    RequestField("s_tmin", None, "float"),
    RequestField("s_noise", None, "float"),
    RequestField("override_settings_restore_afterwards", None, "bool", default=True, **_API_ONLY),
    # refiner (both modes); "Refiner" holds the short title "name [hash]", which names it again
    RequestField("refiner_checkpoint", "Refiner", "str", "Checkpoint", ui_tabs=BOTH),
    RequestField("refiner_switch_at", "Refiner switch at", "float", "Switch at", ui_tabs=BOTH,
                 slider=Slider(0.8, 0.01, 1.0, 0.01)),
    RequestField("disable_extra_networks", None, "bool", default=False, **_API_ONLY),
    RequestField("force_task_id", None, "str", **_API_ONLY),
    RequestField("sampler_index", None, "str", default="Euler",
                 description="deprecated: used only when sampler_name is absent", **_API_ONLY),
    RequestField("script_name", None, "str", "Script"),
    RequestField("send_images", None, "bool", default=True, **_API_ONLY),
    RequestField("save_images", None, "bool", default=False, **_API_ONLY),
    # hires fix (txt2img); "enable_hr" is set by the paste code when hires keys are present
    RequestField("enable_hr", None, "bool", "Hires. fix", default=False, **_HIRES),
    RequestField("firstphase_width", None, "int", default=0, **_HIRES, **_API_ONLY),
    RequestField("firstphase_height", None, "int", default=0, **_HIRES, **_API_ONLY),
    RequestField("hr_scale", "Hires upscale", "float", "Upscale by", default=2.0, **_HIRES,
                 slider=Slider(2.0, 1.0, 4.0, 0.05), rules=(
        Range(low=MIN_HR_SCALE, high=MAX_HR_SCALE, when=hires_scale_used, group="hires",
              message="hr_scale must be between {low:g} and {high:g}, got {value:g}"),)),
    RequestField("hr_upscaler", "Hires upscaler", "str", "Upscaler", **_HIRES),
    RequestField("hr_second_pass_steps", "Hires steps", "int", "Hires steps", default=0, **_HIRES,
                 slider=Slider(0, 0, 150, 1), rules=(
        Range(low=0, high=MAX_HR_STEPS, message="hr_second_pass_steps must be {low}..{high}, got {value}",
              when=hires_on, group="hires"),)),
    RequestField("hr_resize_x", "Hires resize-1", "int", "Resize width to", default=0, **_HIRES, rules=(_HIRES_SIZE,),
                 slider=_RESIZE_SLIDER),
    RequestField("hr_resize_y", "Hires resize-2", "int", "Resize height to", default=0, **_HIRES, rules=(_HIRES_SIZE,),
                 slider=_RESIZE_SLIDER),
    RequestField("hr_checkpoint_name", "Hires checkpoint", "str", "Hires checkpoint", **_HIRES),
    RequestField("hr_sampler_name", "Hires sampler", "str", "Hires sampling method", **_HIRES),
    RequestField("hr_scheduler", "Hires schedule type", "str", "Hires schedule type", **_HIRES),
    RequestField("hr_prompt", "Hires prompt", "str", "Hires prompt", default="", **_HIRES),
    RequestField("hr_negative_prompt", "Hires negative prompt", "str", "Hires negative prompt", default="", **_HIRES),
    # img2img / inpainting
    RequestField("resize_mode", None, "int", "Resize mode", default=0, **_IMG2IMG,
                 rules=(Choice(options=RESIZE_MODES, in_schema=True),)),
    RequestField("image_cfg_scale", "Image CFG scale", "float", "Image CFG Scale", **_IMG2IMG),
    RequestField("mask_blur_x", None, "int", default=4, **_IMG2IMG, rules=(_MASK_BLUR,)),
    RequestField("mask_blur_y", None, "int", default=4, **_IMG2IMG, rules=(_MASK_BLUR,)),
    RequestField("mask_blur", "Mask blur", "int", "Mask blur", **_IMG2IMG, **_API_ONLY, slider=Slider(4, 0, 64, 1)),
    RequestField("mask_round", None, "bool", default=True, **_IMG2IMG, **_API_ONLY),
    RequestField("inpainting_fill", "Masked content", "int", "Masked content", default=0, **_IMG2IMG,
                 convert=_fill_index, rules=(Choice(options=INPAINTING_FILL, in_schema=True),)),
    RequestField("inpaint_full_res", "Inpaint area", "bool", "Inpaint area", default=True, **_IMG2IMG,
                 convert=lambda v: str(v) == "Only masked"),
    RequestField("inpaint_full_res_padding", "Masked area padding", "int", "Only masked padding, pixels", default=0,
                 **_IMG2IMG, slider=Slider(32, 0, 256, 4),
                 rules=(Range(low=0, message="{name} must be 0 or more pixels, got {value}"),)),
    RequestField("inpainting_mask_invert", "Mask mode", "int", "Mask mode", default=0, **_IMG2IMG,
                 convert=lambda v: 1 if str(v) == "Inpaint not masked" else 0,
                 rules=(Choice(options=MASK_MODES, in_schema=True),)),
    RequestField("initial_noise_multiplier", None, "float", **_IMG2IMG, rules=(
        Range(low=0, high=10, message="{name} must be between 0 and 10 (1 = off), got {value}"),)),
    RequestField("include_init_images", None, "bool", default=False, **_IMG2IMG, **_API_ONLY),
)


def api_paste_fields(mode: str, fields: tuple[RequestField, ...] | None = None) -> tuple[RequestField, ...]:
    """The fields a pasted infotext fills in an API request of `mode`."""
    return tuple(f for f in (REQUEST_FIELDS if fields is None else fields) if f.infotext and mode in f.api_modes)


def ui_paste_fields(tab: str, fields: tuple[RequestField, ...] | None = None) -> tuple[RequestField, ...]:
    """The fields a UI tab's paste button fills."""
    return tuple(f for f in (REQUEST_FIELDS if fields is None else fields) if f.infotext and tab in f.ui_tabs)


def body_fields(mode: str | None, fields: tuple[RequestField, ...] | None = None) -> tuple[RequestField, ...]:
    """The fields of one API body: `None` for those both modes share, else those only `mode` has."""
    rows = REQUEST_FIELDS if fields is None else fields
    if mode is None:
        return tuple(f for f in rows if f.bodies == BOTH)
    return tuple(f for f in rows if mode in f.bodies and f.bodies != BOTH)


def extend_fields(table: tuple[RequestField, ...], *rows: RequestField) -> tuple[RequestField, ...]:
    """`table` plus `rows`, refusing a row that would make the table ambiguous (an API name or an
    infotext key used twice, a kind the API models cannot type)."""
    names = {f.attr for f in table}
    keys = {f.infotext for f in table if f.infotext}
    for row in rows:
        if row.kind not in KIND_TYPES:
            raise ValueError(f"request field {row.attr!r}: kind must be one of {', '.join(KIND_TYPES)}")
        if row.attr in names:
            raise ValueError(f"request field {row.attr!r} is already in the table")
        if row.infotext and row.infotext in keys:
            raise ValueError(f"request field {row.attr!r}: infotext key {row.infotext!r} is already used")
        names.add(row.attr)
        if row.infotext:
            keys.add(row.infotext)
    return (*table, *rows)


def find_field(name: str, fields: tuple[RequestField, ...] | None = None) -> RequestField:
    """The row named `name` (its API name); KeyError names the field when the table lacks it."""
    for row in REQUEST_FIELDS if fields is None else fields:
        if row.attr == name:
            return row
    raise KeyError(f"request field {name!r} is not in the field table")


class FieldTable:
    """The request-field table of one running app (`Runtime.request_fields`): the built-in rows plus
    those features and extensions add while they register. The API models, the paste code and the
    checks read `rows`; once the API app is built from it (`freeze`), adding a row is refused,
    because the app's request models would not show it."""

    def __init__(self, rows: tuple[RequestField, ...] = REQUEST_FIELDS) -> None:
        self._rows = rows
        self._frozen_by: str | None = None

    @property
    def rows(self) -> tuple[RequestField, ...]:
        return self._rows

    def add(self, *rows: RequestField) -> None:
        """Add a feature's rows (refused when ambiguous, see `extend_fields`, or after `freeze`)."""
        if self._frozen_by is not None:
            names = ", ".join(r.attr for r in rows)
            raise RuntimeError(f"request field(s) {names} added after {self._frozen_by} was built from the "
                               "field table; add rows while registering the feature, before the app starts")
        self._rows = extend_fields(self._rows, *rows)

    def freeze(self, by: str) -> tuple[RequestField, ...]:
        """The rows, and no more additions (`by` names what was built from them, for the error)."""
        self._frozen_by = self._frozen_by or by
        return self._rows
