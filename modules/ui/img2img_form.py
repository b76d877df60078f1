"""The img2img tab's values as one named record (`Img2ImgForm`), and its conversion to a
`GenerationRequest` for whichever input sub-tab is selected.

Kept apart from the widgets so the request a form makes can be tested without a browser. The
drawing sub-tabs hand over Gradio 6 `gr.ImageEditor` values ({"background", "layers",
"composite"}); whatever was painted on the layers is the mask. Conversions shared with txt2img
(`as_int`, overrides, the common fields) come from `txt2img_form`, so both tabs word errors alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from PIL import Image

from modules.engine.request import INPAINTING_FILL, RESIZE_MODES, GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.scripts import BUILTIN_DECLARATIONS, find_declaration
from modules.ui.txt2img_form import (
    NO_SCRIPT,
    as_float,
    as_int,
    refiner_request_fields,
    shared_request_fields,
    typed_overrides,
)

INPUT_TABS = ("img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch")
MASK_TABS = ("Inpaint", "Inpaint sketch", "Inpaint upload")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")
INPAINT_AREAS = ("Whole picture", "Only masked")
IMG2IMG_SCRIPTS = BUILTIN_DECLARATIONS  # every built-in script has an img2img UI
SCRIPTS = (NO_SCRIPT, *(d.title for d in IMG2IMG_SCRIPTS))
_DRAW = ("paint over the part of the picture to change with the brush, or use the img2img sub-tab "
         "to change all of it")
NO_MASK = {  # inpainting without a mask would only return a copy of the picture
    "Inpaint": f"No mask was drawn: {_DRAW}",
    "Inpaint sketch": f"No mask was drawn: {_DRAW}",
    "Inpaint upload": "No mask was uploaded (or it is all black): upload a mask whose white part marks what "
                      "to change",
}


@dataclass(frozen=True)
class Img2ImgForm:
    """Everything the img2img tab sends; names are the handler's keyword arguments and match the
    txt2img form where the widget is the same (so pasted infotexts land in both tabs)."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: tuple[str, ...] = ()
    input_tab: str = "img2img"
    init_img: Any = None  # PIL image (img2img sub-tab)
    sketch: Any = None  # ImageEditor value (Sketch)
    init_img_with_mask: Any = None  # ImageEditor value (Inpaint)
    inpaint_color_sketch: Any = None  # ImageEditor value (Inpaint sketch)
    init_img_inpaint: Any = None  # PIL image (Inpaint upload)
    init_mask_inpaint: Any = None  # PIL image (Inpaint upload)
    batch_input_dir: str = ""
    batch_output_dir: str = ""
    batch_mask_dir: str = ""
    resize_mode: str = RESIZE_MODES[0]
    mask_blur: Any = 4
    mask_mode: str = MASK_MODES[0]
    inpainting_fill: str = "original"
    inpaint_full_res: str = INPAINT_AREAS[0]
    inpaint_full_res_padding: Any = 32
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: Any = 20
    size_tab: str = "Resize to"
    width: Any = 512
    height: Any = 512
    scale_by: Any = 1.0
    batch_count: Any = 1
    batch_size: Any = 1
    cfg_scale: Any = 7.0
    denoising_strength: Any = 0.75
    seed: Any = -1
    subseed: Any = -1
    subseed_strength: Any = 0.0
    seed_resize_from_w: Any = 0
    seed_resize_from_h: Any = 0
    override_settings: tuple[str, ...] = ()
    enable_refiner: bool = False
    refiner_checkpoint: str = ""
    refiner_switch_at: Any = 0.8
    script_name: str = NO_SCRIPT
    script_values: Mapping[str, Any] = field(default_factory=dict)  # declared script widgets by key

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "script_values"]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "Img2ImgForm":
        """The form from the handler's keyword values: the scripts' own widgets go to `script_values`."""
        script_keys = {d.field(p) for d in IMG2IMG_SCRIPTS for p in d.params}
        names = set(cls.field_names())
        unknown = set(values) - names - script_keys
        if unknown:
            raise TypeError(f"unknown img2img form values: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in values.items() if k in names},
                   script_values={k: v for k, v in values.items() if k in script_keys})


def _pil(value: Any) -> Image.Image | None:
    if value is None or isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return Image.fromarray(value)
    raise InvalidRequestError(f"expected a picture, got {type(value).__name__}")


def painted_mask(editor: Mapping[str, Any] | None) -> Image.Image | None:
    """White wherever any layer of an ImageEditor value has paint (its alpha is not zero)."""
    layers = [_pil(layer) for layer in (editor or {}).get("layers") or []]
    layers = [layer for layer in layers if layer is not None]
    if not layers:
        return None
    painted = np.zeros((layers[0].height, layers[0].width), dtype=bool)
    for layer in layers:
        rgba = np.asarray(layer.convert("RGBA").resize((painted.shape[1], painted.shape[0])))
        painted |= rgba[..., 3] > 0
    return Image.fromarray(painted.astype(np.uint8) * 255, mode="L")


def _editor_picture(editor: Mapping[str, Any] | None, key: str) -> Image.Image | None:
    return _pil((editor or {}).get(key)) if editor else None


def input_images(form: Img2ImgForm) -> tuple[Image.Image | None, Image.Image | None]:
    """(init image, mask) from whichever input sub-tab is selected, as A1111 reads them:
    Sketch and Inpaint sketch use the drawing itself as the picture; Inpaint keeps the original
    picture and uses the strokes only as the mask."""
    tab = form.input_tab
    if tab == "Sketch":
        return _editor_picture(form.sketch, "composite"), None
    if tab == "Inpaint":
        editor = form.init_img_with_mask
        return _editor_picture(editor, "background") or _editor_picture(editor, "composite"), painted_mask(
            editor
        )
    if tab == "Inpaint sketch":
        editor = form.inpaint_color_sketch
        return _editor_picture(editor, "composite"), painted_mask(editor)
    if tab == "Inpaint upload":
        return _pil(form.init_img_inpaint), _pil(form.init_mask_inpaint)
    return _pil(form.init_img), None


def _choice(name: str, value: str, choices: tuple[str, ...]) -> int:
    if value not in choices:
        raise InvalidRequestError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return choices.index(value)


def target_size(form: Img2ImgForm, image: Image.Image | None) -> tuple[int, int]:
    """Width and height: the sliders, or the picture's size × "Scale" trimmed to a multiple of 8."""
    if form.size_tab != "Resize by":
        return as_int("width", form.width), as_int("height", form.height)
    if image is None:
        raise InvalidRequestError("Resize by needs a picture to scale: upload one first")
    scale = as_float("scale_by", form.scale_by)
    w, h = int(image.width * scale), int(image.height * scale)
    return w - w % 8, h - h % 8


def script_fields(form: Img2ImgForm) -> tuple[str | None, tuple[Any, ...]]:
    """`script_name` and A1111-ordered `script_args` for the chosen built-in script."""
    if not form.script_name or form.script_name == NO_SCRIPT:
        return None, ()
    declaration = find_declaration(form.script_name)
    if declaration is None:
        raise InvalidRequestError(f"script {form.script_name!r} is not known; choose one of {', '.join(SCRIPTS)}")
    return declaration.title, declaration.script_args(form.script_values)


def to_request(
    form: Img2ImgForm,
    *,
    option_keys: Mapping[str, str] | None = None,
    coerce_settings: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
    task_id: str | None = None,
    init_image: Image.Image | None = None,
    mask: Image.Image | None = None,
) -> GenerationRequest:
    """The typed request for the selected sub-tab (Batch passes each file as `init_image`)."""
    if init_image is None:
        init_image, mask = input_images(form)
    if init_image is None:
        raise InvalidRequestError(f"no picture in the {form.input_tab!r} tab: upload or draw one first")
    if form.input_tab not in MASK_TABS and form.input_tab != "Batch":
        mask = None
    if form.input_tab in MASK_TABS and (mask is None or mask.convert("L").getbbox() is None):
        raise InvalidRequestError(NO_MASK[form.input_tab])
    size = target_size(form, init_image)
    script_name, script_args = script_fields(form)
    blur = as_int("mask_blur", form.mask_blur)
    return GenerationRequest(
        mode="img2img",
        **shared_request_fields(form, size),
        override_settings=typed_overrides(form.override_settings, option_keys, coerce_settings),
        init_images=(init_image,),
        mask=mask,
        denoising_strength=as_float("denoising_strength", form.denoising_strength),
        resize_mode=_choice("Resize mode", form.resize_mode, RESIZE_MODES),
        mask_blur_x=blur,
        mask_blur_y=blur,
        inpainting_fill=_choice("Masked content", form.inpainting_fill, INPAINTING_FILL),
        inpaint_full_res=_choice("Inpaint area", form.inpaint_full_res, INPAINT_AREAS) == 1,
        inpaint_full_res_padding=as_int("inpaint_full_res_padding", form.inpaint_full_res_padding),
        inpainting_mask_invert=_choice("Mask mode", form.mask_mode, MASK_MODES),
        script_name=script_name,
        script_args=script_args,
        task_id=task_id,
        **refiner_request_fields(form),
    )


# Fields a pasted infotext may fill (the same names as txt2img's, plus img2img's own).
PASTE_FIELDS = frozenset(
    {
        "prompt",
        "negative_prompt",
        "styles",
        "steps",
        "sampler_name",
        "scheduler",
        "cfg_scale",
        "seed",
        "width",
        "height",
        "subseed",
        "subseed_strength",
        "seed_resize_from_w",
        "seed_resize_from_h",
        "denoising_strength",
        "mask_blur",
        "override_settings",
        "enable_refiner",
        "refiner_checkpoint",
        "refiner_switch_at",
    }
)
