"""The img2img parameter column under the input sub-tabs, laid out as A1111's: resize mode, the
inpaint options (shown only on the three inpaint sub-tabs), sampler and schedule, size ("Resize
to" / "Resize by") and batch, CFG, denoising strength, seed, overrides and the script.

Each widget's default comes from ui-config.json under A1111's key (`img2img/Sampling steps/value`),
and widgets are returned by the `Img2ImgForm` field they fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.engine.request import INPAINTING_FILL, RESIZE_MODES
from modules.scripts.declaration import ScriptDeclaration, ScriptParam
from modules.ui.build_context import UiBuild
from modules.ui.field_widgets import field_label, table_slider
from modules.ui.img2img_form import IMG2IMG_SCRIPTS, INPAINT_AREAS, MASK_MODES, SCRIPTS
from modules.ui.tool_button import tool_button
from modules.ui.txt2img_form import NO_SCRIPT

TAB = "img2img"


@dataclass
class Img2ImgParams:
    """The column's widgets by form field, plus what the tab wires events to."""

    fields: dict[str, Any]
    inpaint_group: Any
    swap_size: Any
    random_seed: Any
    reuse_seed: Any


def _slider(ui: UiBuild, label: str, elem: str, value: float, lo: float, hi: float, step: float) -> Any:
    """A slider that is no request field ("Scale" of Resize by)."""
    key = f"{TAB}/{label}"
    widget = gr.Slider(label=label, elem_id=f"{TAB}_{elem}", **ui.ui_config.slider(key, value, lo, hi, step))
    return ui.track(f"{key}/value", widget)


def _field_slider(ui: UiBuild, name: str, elem: str) -> Any:
    """The slider of request field `name`: label, start value and bounds from the field table."""
    return table_slider(ui, TAB, name, elem)


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
            label=field_label("sampler_name"),
            elem_id=f"{TAB}_sampling",
            value=cfg.value(f"{TAB}/Sampling method/value", samplers[0], samplers),
        )
        scheduler = gr.Dropdown(
            choices=schedulers,
            label=field_label("scheduler"),
            elem_id=f"{TAB}_scheduler",
            value=cfg.value(f"{TAB}/Schedule type/value", schedulers[0], schedulers),
        )
    ui.track(f"{TAB}/Sampling method/value", sampler)
    ui.track(f"{TAB}/Schedule type/value", scheduler)
    return {
        "sampler_name": sampler,
        "scheduler": scheduler,
        "steps": _field_slider(ui, "steps", "steps"),
    }


def _size_rows(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    f: dict[str, Any] = {"size_tab": gr.State("Resize to")}
    with gr.Tabs(elem_id=f"{TAB}_tabs_resize"):
        with gr.Tab("Resize to", elem_id=f"{TAB}_tab_resize_to") as to_tab:
            with gr.Row():
                with gr.Column(scale=4):
                    f["width"] = _field_slider(ui, "width", "width")
                    f["height"] = _field_slider(ui, "height", "height")
                swap = tool_button("⇅", f"{TAB}_res_switch_btn", scale=0)
        with gr.Tab("Resize by", elem_id=f"{TAB}_tab_resize_by") as by_tab:
            f["scale_by"] = _slider(ui, "Scale", "scale", 1.0, 0.05, 4.0, 0.05)
    to_tab.select(lambda: "Resize to", outputs=f["size_tab"], queue=False, show_progress="hidden")
    by_tab.select(lambda: "Resize by", outputs=f["size_tab"], queue=False, show_progress="hidden")
    with gr.Row():
        f["batch_count"] = _field_slider(ui, "n_iter", "batch_count")
        f["batch_size"] = _field_slider(ui, "batch_size", "batch_size")
    return f, swap


def _inpaint_options(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    with gr.Group(visible=False, elem_id=f"{TAB}_inpaint_controls") as group:
        f = {
            "mask_blur": _field_slider(ui, "mask_blur", "mask_blur"),
            "mask_mode": _radio(ui, field_label("inpainting_mask_invert"), "mask_mode", MASK_MODES, MASK_MODES[0]),
            "inpainting_fill": _radio(ui, field_label("inpainting_fill"), "inpainting_fill", INPAINTING_FILL,
                                      "original"),
            "inpaint_full_res": _radio(
                ui, field_label("inpaint_full_res"), "inpaint_full_res", INPAINT_AREAS, INPAINT_AREAS[0]
            ),
            "inpaint_full_res_padding": _field_slider(ui, "inpaint_full_res_padding", "inpaint_full_res_padding"),
        }
    return f, group


def _seed_rows(ui: UiBuild) -> tuple[dict[str, Any], Any, Any]:
    with gr.Row(elem_id=f"{TAB}_seed_row", equal_height=True):
        seed = gr.Number(
            value=ui.ui_config.value(f"{TAB}/Seed/value", -1),
            label=field_label("seed"),
            precision=0,
            elem_id=f"{TAB}_seed",
            scale=4,
        )
        random = tool_button("🎲️", f"{TAB}_random_seed", scale=0)
        reuse = tool_button("♻️", f"{TAB}_reuse_seed", scale=0)
    with gr.Accordion("Variation seed", open=False, elem_id=f"{TAB}_seed_extras"):
        f = {
            "seed": ui.track(f"{TAB}/Seed/value", seed),
            "subseed": gr.Number(value=-1, label=field_label("subseed"), precision=0, elem_id=f"{TAB}_subseed"),
            "subseed_strength": _field_slider(ui, "subseed_strength", "subseed_strength"),
            "seed_resize_from_w": _field_slider(ui, "seed_resize_from_w", "seed_resize_from_w"),
            "seed_resize_from_h": _field_slider(ui, "seed_resize_from_h", "seed_resize_from_h"),
        }
    return f, random, reuse


def _script_widget(param: ScriptParam, runtime: Any = None) -> Any:
    if param.kind == "checkboxes":
        return gr.CheckboxGroup(list(param.choices), value=list(param.default), label=param.label)
    if param.kind == "radio":
        choices = list(param.choices_of(runtime) if param.choices_of else param.choices)
        return gr.Radio(choices, value=param.default if param.default in choices else choices[0], label=param.label)
    return gr.Slider(param.minimum, param.maximum, value=param.default, step=param.step, label=param.label)


def _declared_script_group(f: dict[str, Any], declaration: ScriptDeclaration, runtime: Any = None) -> None:
    """A script's widgets, built from what the script declares, shown while it is chosen."""
    slug = declaration.key.replace(" ", "_")
    with gr.Group(visible=False, elem_id=f"script_img2img_{slug}") as group:
        for param in declaration.params:
            f[declaration.field(param)] = _script_widget(param, runtime)
    f["script_name"].change(
        lambda name, title=declaration.title: gr.update(visible=name == title),
        inputs=f["script_name"],
        outputs=group,
        queue=False,
        show_progress="hidden",
    )


def _script_rows(ui: UiBuild) -> dict[str, Any]:
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
            choices=list(SCRIPTS), value=NO_SCRIPT, label=field_label("script_name"), elem_id="img2img_script_list"
        ),
    }
    for declaration in IMG2IMG_SCRIPTS:
        _declared_script_group(f, declaration, ui.runtime)
    return f


def build_params_column(ui: UiBuild) -> Img2ImgParams:
    """The column below the input sub-tabs, top to bottom as in A1111."""
    fields = {"resize_mode": _radio(ui, field_label("resize_mode"), "resize_mode", RESIZE_MODES, RESIZE_MODES[0])}
    inpaint, inpaint_group = _inpaint_options(ui)
    fields.update(inpaint)
    fields.update(_sampler_rows(ui))
    size, swap = _size_rows(ui)
    fields.update(size)
    fields["cfg_scale"] = _field_slider(ui, "cfg_scale", "cfg_scale")
    fields["denoising_strength"] = _field_slider(ui, "denoising_strength", "denoising_strength")
    seeds, random, reuse = _seed_rows(ui)
    fields.update(seeds)
    from modules.ui.refiner_accordion import build_refiner_accordion

    fields.update(build_refiner_accordion(ui, TAB))
    fields.update(_script_rows(ui))
    return Img2ImgParams(fields, inpaint_group, swap, random, reuse)
