"""Typed generation request and result: the one shape that the UI and the API both build.

The UI and the API are thin twins: each turns its input into a `GenerationRequest`, submits it
to the job queue, and turns the `GenerationResult` back into its own shape. Per-request
settings overrides travel inside the request (`override_settings`); the engine never edits
global settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from PIL import Image

RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
INPAINTING_FILL = ("fill", "original", "latent noise", "latent nothing")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one job needs. Defaults follow the A1111 UI (not its API: the API layer
    fills its own defaults such as steps=50 and sampler "Euler")."""

    mode: str = "txt2img"  # "txt2img" or "img2img"
    prompt: str = ""
    negative_prompt: str = ""
    styles: tuple[str, ...] = ()
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_w: int = 0  # <= 0: off
    seed_resize_from_h: int = 0
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    tiling: bool = False
    # Sampler parameters; None means "use the setting".
    eta: float | None = None
    s_churn: float | None = None
    s_tmin: float | None = None
    s_tmax: float | None = None
    s_noise: float | None = None
    s_min_uncond: float | None = None
    # Settings for this request only (A1111 option keys, e.g. CLIP_stop_at_last_layers).
    override_settings: Mapping[str, Any] = field(default_factory=dict)
    save_images: bool = True
    save_grid: bool = True
    outpath_samples: str | None = None
    outpath_grids: str | None = None
    # hires fix (txt2img; A1111's names; modules/hires reads them)
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str | None = None  # None: "Latent"
    hr_second_pass_steps: int = 0  # 0: as many as the first pass
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    hr_checkpoint_name: str | None = None
    # refiner (A1111 1.10; modules/refiner): another checkpoint finishes the sampling
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None  # None: 0.8
    restore_faces: bool | None = None  # None: the "face_restoration" setting (modules/restore_faces)
    # img2img / inpainting
    init_images: tuple[Image.Image, ...] = ()
    mask: Image.Image | None = None
    denoising_strength: float = 0.75
    resize_mode: int = 0
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    inpainting_fill: int = 1
    inpaint_full_res: bool = False
    inpaint_full_res_padding: int = 32
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float | None = None
    image_cfg_scale: float | None = None
    # Scripts and extension payloads (by name, never positional UI lists).
    script_name: str | None = None
    script_args: tuple[Any, ...] = ()
    alwayson_scripts: Mapping[str, Any] = field(default_factory=dict)
    comments: str | None = None
    task_id: str | None = None
    # Values of request-field table rows that have no attribute above (a feature's own row, added to
    # the runtime's table at registration), by API name; read them with `value(name)`.
    extra_fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "override_settings", _frozen(self.override_settings))
        object.__setattr__(self, "extra_fields", _frozen(self.extra_fields))
        object.__setattr__(self, "alwayson_scripts", _frozen(self.alwayson_scripts))
        object.__setattr__(self, "styles", tuple(self.styles))
        object.__setattr__(self, "init_images", tuple(self.init_images))
        object.__setattr__(self, "script_args", tuple(self.script_args))

    def with_changes(self, **changes: Any) -> "GenerationRequest":
        return replace(self, **changes)

    def value(self, name: str, default: Any = None) -> Any:
        """A request field by its API name: the attribute when the request has one, else the value
        a feature's table row brought in `extra_fields` (`default` when the request has none).
        The API model and the paste code already gave it the row's type."""
        if name in REQUEST_ATTRS:
            return getattr(self, name)
        return self.extra_fields.get(name, default)

    def with_values(self, values: Mapping[str, Any]) -> "GenerationRequest":
        """Set request fields by API name: attributes directly, the rest into `extra_fields`."""
        attrs = {k: v for k, v in values.items() if k in REQUEST_ATTRS}
        extra = {k: v for k, v in values.items() if k not in REQUEST_ATTRS}
        if extra:
            attrs["extra_fields"] = {**self.extra_fields, **extra}
        return replace(self, **attrs) if attrs else self


REQUEST_ATTRS: frozenset[str] = frozenset(f.name for f in fields(GenerationRequest))


@dataclass
class GenerationResult:
    """What a job produced. `images` starts with the grid when one was made
    (`index_of_first_image` says where the single images begin)."""

    images: list[Image.Image]
    infotexts: list[str]
    seeds: list[int]
    subseeds: list[int]
    prompts: list[str]
    negative_prompts: list[str]
    index_of_first_image: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    saved_paths: list[str] = field(default_factory=list)
    interrupted: bool = False
    comments: list[str] = field(default_factory=list)
