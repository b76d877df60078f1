"""The "Hires. fix" accordion of txt2img (A1111's labels and element ids).

Ticking "Hires. fix" runs a second pass at the larger size; the row of sizes shows what the
picture will become. Hires sampler/checkpoint and hires prompts are shown when the settings
`hires_fix_show_sampler` / `hires_fix_show_prompts` are on, as in A1111.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.field_widgets import field_label, table_slider

SAME_SAMPLER, SAME_SCHEDULER, SAME_CHECKPOINT = "Use same sampler", "Use same scheduler", "Use same checkpoint"


def _slider(ui: UiBuild, name: str, elem: str) -> Any:
    """The slider of request field `name`: label, start value and bounds from the field table."""
    return table_slider(ui, "txt2img", name, elem)


def upscaler_choices(runtime: Any) -> list[str]:
    """Latent modes first, then None/Lanczos/Nearest and the model upscalers, as A1111 lists them."""
    from modules.upscalers.names import LATENT_MODES

    if runtime.upscalers is None:
        return list(LATENT_MODES)
    return runtime.upscalers.names(include_latent=True)


def hires_size_text(enable: bool, width: Any, height: Any, scale: Any, rx: Any, ry: Any) -> str:
    """"from 512x512 to 1024x1024" under the accordion, like A1111."""
    if not enable:
        return ""
    from types import SimpleNamespace

    from modules.hires.params import hires_target

    try:
        req = SimpleNamespace(width=int(width), height=int(height), hr_scale=float(scale), hr_resize_x=int(rx or 0),
                              hr_resize_y=int(ry or 0))
        target = hires_target(req)
    except (TypeError, ValueError, ZeroDivisionError):
        return ""
    return (f"<span class='gr-box gr-text-input'>from <b>{req.width}x{req.height}</b> to "
            f"<b>{target.width}x{target.height}</b></span>")


def build_hires_accordion(ui: UiBuild) -> tuple[dict[str, Any], Any]:
    """The accordion's widgets by Txt2ImgForm field name, and the size-info HTML."""
    runtime = ui.runtime
    cfg = ui.ui_config
    choices = upscaler_choices(runtime)
    samplers = [SAME_SAMPLER] + [s.name for s in runtime.samplers.list()]
    schedulers = [SAME_SCHEDULER] + [s.label for s in runtime.samplers.schedulers()]
    show_sampler = bool(runtime.settings.get("hires_fix_show_sampler", False))
    show_prompts = bool(runtime.settings.get("hires_fix_show_prompts", False))
    with gr.Accordion("Hires. fix", open=False, elem_id="txt2img_hr"):
        enable = ui.track("txt2img/Hires. fix/value", gr.Checkbox(
            value=cfg.value("txt2img/Hires. fix/value", False), label=field_label("enable_hr"),
            elem_id="txt2img_enable_hr"))
        with gr.Row(elem_id="txt2img_hires_fix_row1"):
            upscaler = ui.track("txt2img/Upscaler/value", gr.Dropdown(
                choices=choices, value=cfg.value("txt2img/Upscaler/value", choices[0], choices),
                label=field_label("hr_upscaler"), elem_id="txt2img_hr_upscaler"))
            steps = _slider(ui, "hr_second_pass_steps", "hires_steps")
            denoise = _slider(ui, "denoising_strength", "denoising_strength")
        with gr.Row(elem_id="txt2img_hires_fix_row2"):
            scale = _slider(ui, "hr_scale", "hr_scale")
            resize_x = _slider(ui, "hr_resize_x", "hr_resize_x")
            resize_y = _slider(ui, "hr_resize_y", "hr_resize_y")
        with gr.Row(elem_id="txt2img_hires_fix_row3", visible=show_sampler):
            from modules.ui.refiner_accordion import checkpoint_titles

            checkpoint = gr.Dropdown([SAME_CHECKPOINT, *checkpoint_titles(runtime)], value=SAME_CHECKPOINT,
                                     label=field_label("hr_checkpoint_name"), elem_id="hr_checkpoint",
                                     allow_custom_value=True)
            sampler = gr.Dropdown(samplers, value=SAME_SAMPLER, label=field_label("hr_sampler_name"),
                                  elem_id="hr_sampler")
            scheduler = gr.Dropdown(schedulers, value=SAME_SCHEDULER, label=field_label("hr_scheduler"),
                                    elem_id="hr_scheduler")
        with gr.Row(elem_id="txt2img_hires_fix_row4", visible=show_prompts):
            prompt = gr.Textbox(label=field_label("hr_prompt"), elem_id="hires_prompt", lines=3,
                                placeholder="Prompt for hires fix pass.\nLeave empty to use the same prompt.")
            negative = gr.Textbox(label=field_label("hr_negative_prompt"), elem_id="hires_neg_prompt", lines=3,
                                  placeholder="Negative prompt for hires fix pass.\nLeave empty to use the same.")
        size_info = gr.HTML(elem_id="txt2img_hr_size_info")
    fields = {"enable_hr": enable, "hr_upscaler": upscaler, "hr_second_pass_steps": steps,
              "denoising_strength": denoise, "hr_scale": scale, "hr_resize_x": resize_x, "hr_resize_y": resize_y,
              "hr_checkpoint_name": checkpoint, "hr_sampler_name": sampler, "hr_scheduler": scheduler,
              "hr_prompt": prompt, "hr_negative_prompt": negative}
    return fields, size_info


def wire_size_info(fields: dict[str, Any], size_info: Any) -> None:
    """Refresh the "from WxH to WxH" line whenever a size input changes."""
    inputs = [fields[k] for k in ("enable_hr", "width", "height", "hr_scale", "hr_resize_x", "hr_resize_y")]
    for widget in inputs:
        widget.change(hires_size_text, inputs=inputs, outputs=[size_info], queue=False, show_progress="hidden")
