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


def _slider(ui: UiBuild, label: str, elem: str, value: float, lo: float, hi: float, step: float) -> Any:
    key = f"txt2img/{label}"
    limits = ui.ui_config.slider(key, value, lo, hi, step)
    widget = gr.Slider(label=label, elem_id=f"txt2img_{elem}", **limits)
    return ui.track(f"{key}/value", widget)


def _sampler_row(ui: UiBuild) -> dict[str, Any]:
    runtime = ui.runtime
    hidden = runtime.settings.get("hide_samplers") or []
    samplers = [s.name for s in runtime.samplers.list(hidden=hidden)]
    schedulers = [s.label for s in runtime.samplers.schedulers()]
    cfg = ui.ui_config
    kind = gr.Dropdown if runtime.settings.get("samplers_in_dropdown", True) else gr.Radio
    with gr.Row(elem_id="txt2img_sampler_row"):
        sampler = kind(choices=samplers, label="Sampling method", elem_id="txt2img_sampling",
                       value=cfg.value("txt2img/Sampling method/value", samplers[0], samplers))
        scheduler = gr.Dropdown(choices=schedulers, label="Schedule type", elem_id="txt2img_scheduler",
                                value=cfg.value("txt2img/Schedule type/value", schedulers[0], schedulers))
    ui.track("txt2img/Sampling method/value", sampler)
    ui.track("txt2img/Schedule type/value", scheduler)
    steps = _slider(ui, "Sampling steps", "steps", 20, 1, 150, 1)
    return {"sampler_name": sampler, "scheduler": scheduler, "steps": steps}


def _size_and_batch(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    with gr.Row(elem_id="txt2img_dimensions_row", equal_height=True):
        with gr.Column(scale=4, elem_id="txt2img_column_size"):
            width = _slider(ui, "Width", "width", 512, 64, 2048, 8)
            height = _slider(ui, "Height", "height", 512, 64, 2048, 8)
        swap = tool_button("⇅", "txt2img_res_switch_btn", scale=0)
        with gr.Column(scale=2, elem_id="txt2img_column_batch"):
            batch_count = _slider(ui, "Batch count", "batch_count", 1, 1, 100, 1)
            batch_size = _slider(ui, "Batch size", "batch_size", 1, 1, 8, 1)
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
        subseed, random, reuse = _seed_row(ui, "Variation seed", "subseed")
        strength = _slider(ui, "Variation strength", "subseed_strength", 0.0, 0.0, 1.0, 0.01)
        with gr.Row():
            resize_w = _slider(ui, "Resize seed from width", "seed_resize_from_w", 0, 0, 2048, 8)
            resize_h = _slider(ui, "Resize seed from height", "seed_resize_from_h", 0, 0, 2048, 8)
    fields = {"subseed": subseed, "subseed_strength": strength, "seed_resize_from_w": resize_w,
              "seed_resize_from_h": resize_h}
    return fields, random, reuse, accordion


def _extras(ui: UiBuild) -> dict[str, Any]:
    tiling = ui.track("txt2img/Tiling/value", gr.Checkbox(
        value=ui.ui_config.value("txt2img/Tiling/value", False), label="Tiling", elem_id="txt2img_tiling"))
    overrides = gr.Dropdown(choices=[], value=[], multiselect=True, label="Override settings", visible=False,
                            elem_id="txt2img_override_settings", allow_custom_value=True)
    script = gr.Dropdown(choices=[NO_SCRIPT], value=NO_SCRIPT, label="Script", elem_id="script_list")
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
    fields["cfg_scale"] = _slider(ui, "CFG Scale", "cfg_scale", 7.0, 1.0, 30.0, 0.5)
    fields["seed"], random_seed, reuse_seed = _seed_row(ui, "Seed", "seed")
    variation, random_subseed, reuse_subseed, accordion = _variation(ui)
    fields.update(variation)
    fields.update(_extras(ui))
    return ParamsColumn(fields, swap, random_seed, reuse_seed, random_subseed, reuse_subseed, accordion)
