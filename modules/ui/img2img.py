"""The img2img tab: A1111's input sub-tabs (img2img, Sketch, Inpaint, Inpaint sketch, Inpaint
upload, Batch), the txt2img controls plus denoising strength and resize, and the inpaint options.

Like txt2img, Generate turns the widgets into one `GenerationRequest` by field name
(`Img2ImgForm` -> `to_request`, pure and testable without a browser), submits it to the shared
queue and follows it. The drawing sub-tabs use Gradio 6's `gr.ImageEditor`: its value is
{"background", "layers", "composite"}; whatever was painted on the layers is the mask.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from modules.engine.request import INPAINTING_FILL, RESIZE_MODES, GenerationRequest, GenerationResult
from modules.engine.validation import InvalidRequestError, validate_request
from modules.jobs.queue import QueueFullError, new_task_id
from modules.scripts.outpainting import DIRECTIONS, OutpaintArgs
from modules.scripts.outpainting import TITLE as OUTPAINT_TITLE
from modules.settings.schema import infotext_to_option_keys
from modules.ui.build_context import UiBuild
from modules.ui.generation_runner import RunUpdate, describe_error, follow_job, poll_interval
from modules.ui.output_panel import OutputPanel, build_output_panel
from modules.ui.paste_wiring import wire_paste_button
from modules.ui.progress_view import error_html
from modules.ui.prompt_row import PromptRow, build_prompt_row
from modules.ui.prompt_wiring import wire_prompt_tools
from modules.ui.tool_button import tool_button
from modules.ui.txt2img import final_outputs, interrupt_job, progress_outputs, reuse_seed, skip_image
from modules.ui.txt2img_form import NO_SCRIPT, as_float, as_int, parse_override_entries

TAB = "img2img"
INPUT_TABS = ("img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch")
MASK_TABS = ("Inpaint", "Inpaint sketch", "Inpaint upload")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")
INPAINT_AREAS = ("Whole picture", "Only masked")
SCRIPTS = (NO_SCRIPT, OUTPAINT_TITLE)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


# --- the form: widget values -> request ----------------------------------------------------------


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
    script_name: str = NO_SCRIPT
    outpaint_pixels: Any = 128
    outpaint_mask_blur: Any = 8
    outpaint_directions: tuple[str, ...] = DIRECTIONS
    outpaint_noise_q: Any = 1.0
    outpaint_color_variation: Any = 0.05

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


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
    if form.script_name == OUTPAINT_TITLE:
        return OUTPAINT_TITLE, (
            "",
            as_int("outpaint_pixels", form.outpaint_pixels),
            as_int("outpaint_mask_blur", form.outpaint_mask_blur),
            list(form.outpaint_directions or ()),
            as_float("outpaint_noise_q", form.outpaint_noise_q),
            as_float("outpaint_color_variation", form.outpaint_color_variation),
        )
    raise InvalidRequestError(f"script {form.script_name!r} is not known; choose one of {', '.join(SCRIPTS)}")


def _overrides(
    form: Img2ImgForm,
    option_keys: Mapping[str, str] | None,
    coerce_settings: Callable[[Mapping[str, Any]], dict[str, Any]] | None,
) -> Mapping[str, Any]:
    overrides: Mapping[str, Any] = parse_override_entries(form.override_settings, option_keys or {})
    if coerce_settings is not None and overrides:
        try:
            overrides = coerce_settings(overrides)
        except ValueError as e:
            raise InvalidRequestError(f"override settings: {e}") from e
    return overrides


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
    width, height = target_size(form, init_image)
    script_name, script_args = script_fields(form)
    blur = as_int("mask_blur", form.mask_blur)
    return GenerationRequest(
        mode="img2img",
        prompt=form.prompt or "",
        negative_prompt=form.negative_prompt or "",
        styles=tuple(form.styles or ()),
        sampler_name=form.sampler_name,
        scheduler=form.scheduler or "Automatic",
        steps=as_int("steps", form.steps),
        width=width,
        height=height,
        n_iter=as_int("batch_count", form.batch_count),
        batch_size=as_int("batch_size", form.batch_size),
        cfg_scale=as_float("cfg_scale", form.cfg_scale),
        seed=as_int("seed", form.seed),
        subseed=as_int("subseed", form.subseed),
        subseed_strength=as_float("subseed_strength", form.subseed_strength),
        seed_resize_from_w=as_int("seed_resize_from_w", form.seed_resize_from_w),
        seed_resize_from_h=as_int("seed_resize_from_h", form.seed_resize_from_h),
        override_settings=_overrides(form, option_keys, coerce_settings),
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
    )


# --- Batch: a folder of pictures ---------------------------------------------------------------


def batch_files(folder: str) -> list[Path]:
    """The pictures in the input folder, sorted by name; a clear error when it is not there."""
    path = Path(folder or "").expanduser()
    if not folder or not path.is_dir():
        raise InvalidRequestError(
            f"Batch input directory {folder!r} does not exist; enter a folder on the server"
        )
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InvalidRequestError(
            f"Batch input directory {folder!r} holds no pictures ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _batch_mask(mask_dir: str, picture: Path) -> Image.Image | None:
    if not mask_dir:
        return None
    matches = [
        p for p in Path(mask_dir).expanduser().glob(picture.stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return Image.open(matches[0]) if matches else None


def batch_requests(form: Img2ImgForm, make: Callable[..., GenerationRequest]) -> list[GenerationRequest]:
    """One request per picture of the input folder (with its same-named mask, if a mask folder is
    given); results go to the output folder when one is set, else to the usual img2img folder."""
    out_dir = (form.batch_output_dir or "").strip() or None
    requests = []
    for picture in batch_files(form.batch_input_dir):
        try:
            with Image.open(picture) as opened:
                image = opened.copy()
        except OSError as e:
            raise InvalidRequestError(f"{picture.name} is not a readable picture: {e}") from e
        req = make(init_image=image, mask=_batch_mask(form.batch_mask_dir, picture))
        requests.append(replace(req, outpath_samples=out_dir, save_images=True))
    return requests


# --- widgets -----------------------------------------------------------------------------------


@dataclass
class Img2ImgInputs:
    fields: dict[str, Any]
    sub_tabs: dict[str, Any]
    input_tab: Any
    mode_tabs: Any = None  # the gr.Tabs of the sub-tabs (Send-to buttons select one)


def _editor(elem: str, label: str, mask_brush: bool = False) -> Any:
    """A drawing canvas; the Inpaint one has a single white brush (its strokes are only a mask)."""
    brush = (
        gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed")
        if mask_brush
        else gr.Brush()
    )
    return gr.ImageEditor(
        label=label,
        type="pil",
        image_mode="RGBA",
        elem_id=elem,
        height=480,
        brush=brush,
        sources=("upload", "clipboard"),
    )


def _input_tabs() -> Img2ImgInputs:
    f: dict[str, Any] = {}
    tabs: dict[str, Any] = {}
    input_tab = gr.State(INPUT_TABS[0])
    with gr.Tabs(elem_id="mode_img2img") as mode_tabs:
        with gr.Tab("img2img", id="img2img_img2img_tab", elem_id="img2img_img2img_tab") as tabs["img2img"]:
            f["init_img"] = gr.Image(
                label="Image for img2img",
                type="pil",
                image_mode="RGBA",
                elem_id="img2img_image",
                height=480,
                sources=("upload", "clipboard"),
            )
        with gr.Tab("Sketch", id="img2img_img2img_sketch_tab", elem_id="img2img_img2img_sketch_tab") as tabs[
            "Sketch"
        ]:
            f["sketch"] = _editor("img2img_sketch", "Image for img2img")
        with gr.Tab("Inpaint", id="img2img_inpaint_tab", elem_id="img2img_inpaint_tab") as tabs["Inpaint"]:
            f["init_img_with_mask"] = _editor(
                "img2maskimg", "Image for inpainting with mask", mask_brush=True
            )
        with gr.Tab(
            "Inpaint sketch", id="img2img_inpaint_sketch_tab", elem_id="img2img_inpaint_sketch_tab"
        ) as tabs["Inpaint sketch"]:
            f["inpaint_color_sketch"] = _editor("inpaint_sketch", "Color sketch inpainting")
        with gr.Tab(
            "Inpaint upload", id="img2img_inpaint_upload_tab", elem_id="img2img_inpaint_upload_tab"
        ) as tabs["Inpaint upload"]:
            f["init_img_inpaint"] = gr.Image(
                label="Image for img2img", type="pil", elem_id="img_inpaint_base"
            )
            f["init_mask_inpaint"] = gr.Image(
                label="Mask", type="pil", image_mode="RGBA", elem_id="img_inpaint_mask"
            )
        with gr.Tab("Batch", id="img2img_batch_tab", elem_id="img2img_batch_tab") as tabs["Batch"]:
            gr.HTML(
                "<p>Process pictures in a folder on the same machine where the server is running. "
                "Leave the output directory empty to save in the usual img2img folder.</p>"
            )
            f["batch_input_dir"] = gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir")
            f["batch_output_dir"] = gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir")
            f["batch_mask_dir"] = gr.Textbox(
                label="Inpaint batch mask directory (required for inpaint batch processing only)",
                elem_id="img2img_batch_inpaint_mask_dir",
            )
    for name, tab in tabs.items():
        tab.select(lambda _n=name: _n, outputs=input_tab, queue=False, show_progress="hidden")
    f["input_tab"] = input_tab
    return Img2ImgInputs(f, tabs, input_tab, mode_tabs)


def _slider(ui: UiBuild, label: str, elem: str, value: float, lo: float, hi: float, step: float) -> Any:
    key = f"{TAB}/{label}"
    widget = gr.Slider(label=label, elem_id=f"{TAB}_{elem}", **ui.ui_config.slider(key, value, lo, hi, step))
    return ui.track(f"{key}/value", widget)


def _radio(ui: UiBuild, label: str, elem: str, choices: tuple[str, ...], value: str) -> Any:
    key = f"{TAB}/{label}/value"
    widget = gr.Radio(
        label=label,
        choices=list(choices),
        value=ui.ui_config.value(key, value, list(choices)),
        elem_id=f"{TAB}_{elem}",
    )
    return ui.track(key, widget)


def _sampler_rows(ui: UiBuild) -> dict[str, Any]:
    runtime = ui.runtime
    samplers = [s.name for s in runtime.samplers.list(hidden=runtime.settings.get("hide_samplers") or [])]
    schedulers = [s.label for s in runtime.samplers.schedulers()]
    cfg = ui.ui_config
    with gr.Row(elem_id=f"{TAB}_sampler_row"):
        sampler = gr.Dropdown(
            choices=samplers,
            label="Sampling method",
            elem_id=f"{TAB}_sampling",
            value=cfg.value(f"{TAB}/Sampling method/value", samplers[0], samplers),
        )
        scheduler = gr.Dropdown(
            choices=schedulers,
            label="Schedule type",
            elem_id=f"{TAB}_scheduler",
            value=cfg.value(f"{TAB}/Schedule type/value", schedulers[0], schedulers),
        )
    ui.track(f"{TAB}/Sampling method/value", sampler)
    ui.track(f"{TAB}/Schedule type/value", scheduler)
    return {
        "sampler_name": sampler,
        "scheduler": scheduler,
        "steps": _slider(ui, "Sampling steps", "steps", 20, 1, 150, 1),
    }


def _size_rows(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    f: dict[str, Any] = {"size_tab": gr.State("Resize to")}
    with gr.Tabs(elem_id=f"{TAB}_tabs_resize"):
        with gr.Tab("Resize to", elem_id=f"{TAB}_tab_resize_to") as to_tab:
            with gr.Row():
                with gr.Column(scale=4):
                    f["width"] = _slider(ui, "Width", "width", 512, 64, 2048, 8)
                    f["height"] = _slider(ui, "Height", "height", 512, 64, 2048, 8)
                swap = tool_button("⇅", f"{TAB}_res_switch_btn", scale=0)
        with gr.Tab("Resize by", elem_id=f"{TAB}_tab_resize_by") as by_tab:
            f["scale_by"] = _slider(ui, "Scale", "scale", 1.0, 0.05, 4.0, 0.05)
    to_tab.select(lambda: "Resize to", outputs=f["size_tab"], queue=False, show_progress="hidden")
    by_tab.select(lambda: "Resize by", outputs=f["size_tab"], queue=False, show_progress="hidden")
    with gr.Row():
        f["batch_count"] = _slider(ui, "Batch count", "batch_count", 1, 1, 100, 1)
        f["batch_size"] = _slider(ui, "Batch size", "batch_size", 1, 1, 8, 1)
    return f, swap


def _inpaint_options(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    with gr.Group(visible=False, elem_id=f"{TAB}_inpaint_controls") as group:
        f = {
            "mask_blur": _slider(ui, "Mask blur", "mask_blur", 4, 0, 64, 1),
            "mask_mode": _radio(ui, "Mask mode", "mask_mode", MASK_MODES, MASK_MODES[0]),
            "inpainting_fill": _radio(ui, "Masked content", "inpainting_fill", INPAINTING_FILL, "original"),
            "inpaint_full_res": _radio(
                ui, "Inpaint area", "inpaint_full_res", INPAINT_AREAS, INPAINT_AREAS[0]
            ),
            "inpaint_full_res_padding": _slider(
                ui, "Only masked padding, pixels", "inpaint_full_res_padding", 32, 0, 256, 4
            ),
        }
    return f, group


def _seed_rows(ui: UiBuild) -> tuple[dict[str, Any], Any, Any]:
    with gr.Row(elem_id=f"{TAB}_seed_row", equal_height=True):
        seed = gr.Number(
            value=ui.ui_config.value(f"{TAB}/Seed/value", -1),
            label="Seed",
            precision=0,
            elem_id=f"{TAB}_seed",
            scale=4,
        )
        random = tool_button("🎲️", f"{TAB}_random_seed", scale=0)
        reuse = tool_button("♻️", f"{TAB}_reuse_seed", scale=0)
    with gr.Accordion("Variation seed", open=False, elem_id=f"{TAB}_seed_extras"):
        f = {
            "seed": ui.track(f"{TAB}/Seed/value", seed),
            "subseed": gr.Number(value=-1, label="Variation seed", precision=0, elem_id=f"{TAB}_subseed"),
            "subseed_strength": _slider(ui, "Variation strength", "subseed_strength", 0.0, 0.0, 1.0, 0.01),
            "seed_resize_from_w": _slider(ui, "Resize seed from width", "seed_resize_from_w", 0, 0, 2048, 8),
            "seed_resize_from_h": _slider(ui, "Resize seed from height", "seed_resize_from_h", 0, 0, 2048, 8),
        }
    return f, random, reuse


def _script_rows(ui: UiBuild) -> dict[str, Any]:
    default = OutpaintArgs()
    f = {
        "override_settings": gr.Dropdown(
            choices=[],
            value=[],
            multiselect=True,
            label="Override settings",
            visible=False,
            elem_id=f"{TAB}_override_settings",
            allow_custom_value=True,
        ),
        "script_name": gr.Dropdown(
            choices=list(SCRIPTS), value=NO_SCRIPT, label="Script", elem_id="img2img_script_list"
        ),
    }
    with gr.Group(visible=False, elem_id="script_img2img_outpainting_mk2") as outpaint:
        f["outpaint_pixels"] = gr.Slider(8, 256, value=default.pixels, step=8, label="Pixels to expand")
        f["outpaint_mask_blur"] = gr.Slider(0, 64, value=default.mask_blur, step=1, label="Mask blur")
        f["outpaint_directions"] = gr.CheckboxGroup(
            list(DIRECTIONS), value=list(DIRECTIONS), label="Outpainting direction"
        )
        f["outpaint_noise_q"] = gr.Slider(
            0.0, 4.0, value=default.noise_q, step=0.01, label="Fall-off exponent (lower=higher detail)"
        )
        f["outpaint_color_variation"] = gr.Slider(
            0.0, 1.0, value=default.color_variation, step=0.01, label="Color variation"
        )
    f["script_name"].change(
        lambda name: gr.update(visible=name == OUTPAINT_TITLE),
        inputs=f["script_name"],
        outputs=outpaint,
        queue=False,
        show_progress="hidden",
    )
    return f


# --- events ------------------------------------------------------------------------------------


def _make_request_builder(runtime: Any, form: Img2ImgForm, task_id: str) -> Callable[..., GenerationRequest]:
    def make(**images: Any) -> GenerationRequest:
        req = to_request(
            form,
            option_keys=infotext_to_option_keys(runtime.settings.schema),
            coerce_settings=runtime.settings.validate,
            task_id=task_id,
            **images,
        )
        validate_request(req)
        return req

    return make


def plan_requests(runtime: Any, form: Img2ImgForm, task_id: str) -> list[GenerationRequest]:
    """Every request Generate runs: one, or one per picture in Batch."""
    make = _make_request_builder(runtime, form, task_id)
    if form.input_tab == "Batch":
        return batch_requests(form, make)
    return [make()]


def merge_results(results: list[GenerationResult]) -> GenerationResult:
    """One gallery for a Batch run: the pictures (not grids) of every job, in order."""
    if len(results) == 1:
        return results[0]
    merged = GenerationResult([], [], [], [], [], [])
    for r in results:
        first = r.index_of_first_image
        merged.images += r.images[first:]
        merged.infotexts += r.infotexts[first:]
        merged.seeds += r.seeds
        merged.subseeds += r.subseeds
        merged.prompts += r.prompts
        merged.negative_prompts += r.negative_prompts
        merged.saved_paths += r.saved_paths
        merged.comments += r.comments
        merged.interrupted = merged.interrupted or r.interrupted
    return merged


def make_generate(runtime: Any, panel: OutputPanel) -> Callable[..., Iterator[dict[Any, Any]]]:
    def generate(task_id: str | None, **values: Any) -> Iterator[dict[Any, Any]]:
        started = time.perf_counter()
        task = task_id or new_task_id(TAB)
        try:
            requests = plan_requests(runtime, Img2ImgForm(**values), task)
        except (InvalidRequestError, ValueError) as e:
            yield {panel.progress: "", panel.html_log: error_html(describe_error(e))}
            return
        yield {panel.html_log: "", panel.download: gr.update(visible=False)}
        poll = poll_interval(runtime.settings.get("live_preview_refresh_period", 1000))
        results: list[GenerationResult] = []
        for i, req in enumerate(requests):
            try:
                job = runtime.submit(replace(req, task_id=task if i == 0 else new_task_id(TAB)))
            except QueueFullError as e:
                yield {panel.progress: "", panel.html_log: error_html(describe_error(e))}
                return
            for update in follow_job(job, runtime.queue, poll):
                if update.error is not None:
                    yield final_outputs(runtime, panel, update, time.perf_counter() - started)
                    return
                if update.result is None:
                    yield progress_outputs(runtime, panel, update)
                else:
                    results.append(update.result)
        done = RunUpdate(result=merge_results(results))
        yield final_outputs(runtime, panel, done, time.perf_counter() - started)

    return generate


def _wire(
    ui: UiBuild,
    row: PromptRow,
    fields: dict[str, Any],
    panel: OutputPanel,
    inpaint_group: Any,
    input_tab: Any,
    seed_buttons: tuple[Any, Any],
    swap: Any,
) -> None:
    runtime = ui.runtime
    task = gr.State(None)
    outputs = [
        panel.progress,
        panel.preview,
        panel.gallery,
        panel.html_info,
        panel.html_log,
        panel.result,
        panel.selected,
        panel.download,
    ]
    row.generate.click(lambda: new_task_id(TAB), outputs=task, queue=False, show_progress="hidden").then(
        make_generate(runtime, panel),
        inputs_kwargs={"task_id": task, **fields},
        outputs=outputs,
        show_progress="hidden",
        concurrency_limit=None,
        api_visibility="private",
    )
    row.interrupt.click(lambda t: interrupt_job(runtime, t), inputs=task, queue=False, show_progress="hidden")
    row.skip.click(lambda t: skip_image(runtime, t), inputs=task, queue=False, show_progress="hidden")
    input_tab.change(
        lambda t: gr.update(visible=t in MASK_TABS or t == "Batch"),
        inputs=input_tab,
        outputs=inpaint_group,
        queue=False,
        show_progress="hidden",
    )
    random, reuse = seed_buttons
    random.click(lambda: -1, outputs=fields["seed"], queue=False, show_progress="hidden")
    for button in (reuse, panel.reuse_seed):
        button.click(
            reuse_seed,
            inputs=[panel.result, panel.selected],
            outputs=fields["seed"],
            queue=False,
            show_progress="hidden",
        )
    swap.click(
        lambda w, h: (h, w),
        inputs=[fields["width"], fields["height"]],
        outputs=[fields["width"], fields["height"]],
        queue=False,
        show_progress="hidden",
    )
    wire_prompt_tools(runtime, row, panel.html_log, fields["steps"])
    wire_paste_button(ui, row.paste, row.prompt, TAB, panel.html_log)


def build_img2img_tab(ui: UiBuild) -> None:
    """Build the img2img tab into the current Blocks context (a `TabSpec` build function)."""
    row = build_prompt_row(ui, TAB)
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            inputs = _input_tabs()
            fields = dict(inputs.fields)
            fields["resize_mode"] = _radio(ui, "Resize mode", "resize_mode", RESIZE_MODES, RESIZE_MODES[0])
            inpaint, inpaint_group = _inpaint_options(ui)
            fields.update(inpaint)
            fields.update(_sampler_rows(ui))
            size, swap = _size_rows(ui)
            fields.update(size)
            fields["cfg_scale"] = _slider(ui, "CFG Scale", "cfg_scale", 7.0, 1.0, 30.0, 0.5)
            fields["denoising_strength"] = _slider(
                ui, "Denoising strength", "denoising_strength", 0.75, 0.0, 1.0, 0.01
            )
            seeds, random, reuse = _seed_rows(ui)
            fields.update(seeds)
            fields.update(_script_rows(ui))
        with gr.Column(scale=1, elem_id=f"{TAB}_output_column"):
            panel = build_output_panel(ui, TAB)
    fields.update({"prompt": row.prompt, "negative_prompt": row.negative_prompt, "styles": row.styles})
    ui.paste_targets[TAB] = {k: v for k, v in fields.items() if k in PASTE_FIELDS}
    ui.paste_logs[TAB] = panel.html_log
    from modules.ui.send_to import SendTarget

    ui.send_targets["img2img"] = SendTarget(fields["init_img"], inputs.mode_tabs, "img2img_img2img_tab",
                                            inputs.input_tab, "img2img")
    ui.send_targets["inpaint"] = SendTarget(fields["init_img_with_mask"], inputs.mode_tabs, "img2img_inpaint_tab",
                                            inputs.input_tab, "Inpaint")
    _wire(ui, row, fields, panel, inpaint_group, inputs.input_tab, (random, reuse), swap)


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
    }
)
