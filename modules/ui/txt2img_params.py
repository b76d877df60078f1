"""The txt2img parameter column, laid out as A1111's: sampler and schedule, steps, hires fix,
size with swap, batch, CFG, seed with 🎲/♻️ and the variation seed, tiling, overrides, script.

Each widget's default comes from ui-config.json under A1111's key (`txt2img/Sampling steps/value`),
and widgets are returned by the `Txt2ImgForm` field they fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.field_widgets import field_label, table_slider
from modules.ui.tool_button import tool_button
from modules.ui.txt2img_form import NO_SCRIPT


@dataclass
class ParamsColumn:
    fields: dict[str, Any]
    swap_size: Any
    random_seed: Any
    reuse_seed: Any
    random_subseed: Any
    reuse_subseed: Any
    variation_accordion: Any


def _slider(ui: UiBuild, name: str, elem: str) -> Any:
    """The slider of request field `name`: label, start value and bounds from the field table."""
    return table_slider(ui, "txt2img", name, elem)


def _sampler_row(ui: UiBuild) -> dict[str, Any]:
    runtime = ui.runtime
    hidden = runtime.settings.get("hide_samplers") or []
    samplers = [s.name for s in runtime.samplers.list(hidden=hidden)]
    schedulers = [s.label for s in runtime.samplers.schedulers()]
    cfg = ui.ui_config
    kind = gr.Dropdown if runtime.settings.get("samplers_in_dropdown", True) else gr.Radio
    with gr.Row(elem_id="txt2img_sampler_row"):
        sampler = kind(choices=samplers, label=field_label("sampler_name"), elem_id="txt2img_sampling",
                       value=cfg.value("txt2img/Sampling method/value", samplers[0], samplers))
        scheduler = gr.Dropdown(choices=schedulers, label=field_label("scheduler"), elem_id="txt2img_scheduler",
                                value=cfg.value("txt2img/Schedule type/value", schedulers[0], schedulers))
    ui.track("txt2img/Sampling method/value", sampler)
    ui.track("txt2img/Schedule type/value", scheduler)
    steps = _slider(ui, "steps", "steps")
    return {"sampler_name": sampler, "scheduler": scheduler, "steps": steps}


def _size_and_batch(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    with gr.Row(elem_id="txt2img_dimensions_row", equal_height=True):
        with gr.Column(scale=4, elem_id="txt2img_column_size"):
            width = _slider(ui, "width", "width")
            height = _slider(ui, "height", "height")
        swap = tool_button("⇅", "txt2img_res_switch_btn", scale=0)
        with gr.Column(scale=2, elem_id="txt2img_column_batch"):
            batch_count = _slider(ui, "n_iter", "batch_count")
            batch_size = _slider(ui, "batch_size", "batch_size")
    return {"width": width, "height": height, "batch_count": batch_count, "batch_size": batch_size}, swap


def _seed_row(ui: UiBuild, label: str, elem: str) -> tuple[Any, Any, Any]:
    use_text = bool(getattr(ui.runtime.args, "use_textbox_seed", False))
    value = ui.ui_config.value(f"txt2img/{label}/value", -1)
    with gr.Row(elem_id=f"txt2img_{elem}_row", equal_height=True):
        if use_text:
            seed = gr.Textbox(value=str(value), label=label, elem_id=f"txt2img_{elem}", scale=4)
        else:
            seed = gr.Number(value=value, label=label, elem_id=f"txt2img_{elem}", precision=0, scale=4)
        random = tool_button("🎲️", f"txt2img_random_{elem}", scale=0)
        reuse = tool_button("♻️", f"txt2img_reuse_{elem}", scale=0)
    return ui.track(f"txt2img/{label}/value", seed), random, reuse


def _variation(ui: UiBuild) -> tuple[dict[str, Any], Any, Any, Any]:
    with gr.Accordion("Variation seed", open=False, elem_id="txt2img_seed_extras") as accordion:
        subseed, random, reuse = _seed_row(ui, field_label("subseed"), "subseed")
        strength = _slider(ui, "subseed_strength", "subseed_strength")
        with gr.Row():
            resize_w = _slider(ui, "seed_resize_from_w", "seed_resize_from_w")
            resize_h = _slider(ui, "seed_resize_from_h", "seed_resize_from_h")
    fields = {"subseed": subseed, "subseed_strength": strength, "seed_resize_from_w": resize_w,
              "seed_resize_from_h": resize_h}
    return fields, random, reuse, accordion


def _extras(ui: UiBuild) -> dict[str, Any]:
    tiling = ui.track("txt2img/Tiling/value", gr.Checkbox(
        value=ui.ui_config.value("txt2img/Tiling/value", False), label=field_label("tiling"), elem_id="txt2img_tiling"))
    overrides = gr.Dropdown(choices=[], value=[], multiselect=True, label="Override settings", visible=False,
                            elem_id="txt2img_override_settings", allow_custom_value=True)
    script = gr.Dropdown(choices=[NO_SCRIPT], value=NO_SCRIPT, label=field_label("script_name"), elem_id="script_list")
    return {"tiling": tiling, "override_settings": overrides, "script_name": script}


def build_params_column(ui: UiBuild) -> ParamsColumn:
    from modules.ui.hires_accordion import build_hires_accordion, wire_size_info

    fields = _sampler_row(ui)
    from modules.ui.refiner_accordion import build_refiner_accordion

    hires, size_info = build_hires_accordion(ui)
    fields.update(hires)
    fields.update(build_refiner_accordion(ui, "txt2img"))
    size_fields, swap = _size_and_batch(ui)
    fields.update(size_fields)
    wire_size_info(fields, size_info)
    fields["cfg_scale"] = _slider(ui, "cfg_scale", "cfg_scale")
    fields["seed"], random_seed, reuse_seed = _seed_row(ui, field_label("seed"), "seed")
    variation, random_subseed, reuse_subseed, accordion = _variation(ui)
    fields.update(variation)
    fields.update(_extras(ui))
    return ParamsColumn(fields, swap, random_seed, reuse_seed, random_subseed, reuse_subseed, accordion)
