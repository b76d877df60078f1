"""The img2img tab: A1111's input sub-tabs, the parameter column and the output panel, and the
events between them.

Like txt2img, Generate turns the widgets into `GenerationRequest`s by field name (`Img2ImgForm`,
see img2img_form), submits them to the shared queue and follows them; Batch makes one request per
picture of a folder (img2img_batch) and shows them as one gallery. The widgets live in
img2img_inputs (sub-tabs) and img2img_params (the column); this file only assembles and wires.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import gradio as gr

from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.validation import InvalidRequestError, steps_bound, validate_request
from modules.jobs.queue import QueueFullError, new_task_id
from modules.settings.schema import infotext_to_option_keys
from modules.ui.build_context import UiBuild
from modules.ui.controlnet_form import PREFIX as UNIT_PREFIX
from modules.ui.controlnet_form import request_with_units, split_unit_values
from modules.ui.controlnet_units import build_controlnet_accordion
from modules.ui.extension_scripts import (
    build_script_uis,
    build_selectable_uis,
    extension_script_choice,
    register_paste_targets,
    split_script_values,
)
from modules.ui.extra_networks_ui import build_extra_networks
from modules.ui.generation_runner import RunUpdate, describe_error, follow_job, poll_interval
from modules.ui.img2img_batch import batch_requests, merge_results
from modules.ui.img2img_form import MASK_TABS, PASTE_FIELDS, SCRIPTS, Img2ImgForm, to_request
from modules.ui.img2img_inputs import Img2ImgInputs, build_input_tabs
from modules.ui.img2img_params import TAB, Img2ImgParams, build_params_column
from modules.ui.interrogate_tab import build_img2img_buttons, wire_img2img_buttons
from modules.ui.main_ui_options import (
    apply_main_ui_options,
    build_main_ui_options,
    paste_targets,
    split_main_ui_options,
)
from modules.ui.output_panel import OutputPanel, build_output_panel
from modules.ui.paste_wiring import wire_paste_button
from modules.ui.progress_view import error_html, notice_html
from modules.ui.prompt_row import build_prompt_row
from modules.ui.prompt_wiring import wire_prompt_tools
from modules.ui.refiner_accordion import check_pass_checkpoints
from modules.ui.table_fields import app_fields, feature_paste_names, split_table_values, with_table_values
from modules.ui.txt2img import final_outputs, progress_outputs, reuse_seed, wire_generation
from modules.ui.txt2img_form import round_size_fields


def _make_request_builder(runtime: Any, form: Img2ImgForm, task_id: str, units: list[dict[str, Any]] | None = None,
                          options: dict[str, Any] | None = None) -> Callable[..., GenerationRequest]:
    def make(**images: Any) -> GenerationRequest:
        req = to_request(
            form,
            option_keys=infotext_to_option_keys(runtime.settings.schema),
            coerce_settings=runtime.settings.validate,
            task_id=task_id,
            **images,
        )
        req = apply_main_ui_options(runtime, req, options or {})
        validate_request(req, max_steps=steps_bound(runtime.settings))
        check_pass_checkpoints(runtime, req)
        return request_with_units(getattr(runtime, "controlnet", None), req, units or [])

    return make


def batch_folder_check(runtime: Any) -> Callable[[str, str], Any]:
    """Batch folders follow the output-folder rule: inside the data folder unless
    --allowed-output-dir allows more (a UI user may not read or write anywhere on the server)."""
    from modules.runtime import allowed_output_dirs
    from modules.storage.output_folders import OutsideDataFolderError, resolve_output_folder

    def check(text: str, what: str) -> Any:
        try:
            return resolve_output_folder(text, runtime.paths.data_dir, allowed_output_dirs(runtime.args), what=what)
        except OutsideDataFolderError as e:
            raise InvalidRequestError(str(e)) from e

    return check


def plan_requests(runtime: Any, form: Img2ImgForm, task_id: str, units: list[dict[str, Any]] | None = None,
                  options: dict[str, Any] | None = None) -> list[GenerationRequest]:
    """Every request Generate runs: one, or one per picture in Batch."""
    make = _make_request_builder(runtime, form, task_id, units, options)
    if form.input_tab == "Batch":
        return batch_requests(form, make, batch_folder_check(runtime),
                              int(runtime.settings.get("input_image_max_pixels") or 0) or None)
    return [make()]


def make_generate(runtime: Any, panel: OutputPanel) -> Callable[..., Iterator[dict[Any, Any]]]:
    def generate(task_id: str | None, **values: Any) -> Iterator[dict[Any, Any]]:
        started = time.perf_counter()
        task = task_id or new_task_id(TAB)
        values, units = split_unit_values(values)
        values, options = split_main_ui_options(values)
        try:
            values, alwayson = split_script_values(values)  # extension scripts' widgets (by name)
            values, selected = extension_script_choice(values, SCRIPTS)
            values, table_values = split_table_values(values, app_fields(runtime), Img2ImgForm.field_names())
            form = Img2ImgForm.from_values(values)
            form, notes = round_size_fields(form) if form.size_tab != "Resize by" else (form, [])
            requests = plan_requests(runtime, form, task, units, options)
            if alwayson or selected:
                requests = [r.with_changes(alwayson_scripts={**r.alwayson_scripts, **alwayson}, **selected)
                            for r in requests]
            requests = [with_table_values(runtime, r, table_values) for r in requests]
        except (InvalidRequestError, ValueError) as e:
            yield {panel.progress: "", panel.html_log: error_html(describe_error(e))}
            return
        yield {panel.html_log: "".join(notice_html(n) for n in notes), panel.download: gr.update(visible=False)}
        poll = poll_interval(runtime.settings.get("live_preview_refresh_period", 1000))
        results: list[GenerationResult] = []
        try:  # one job for every picture of a Batch: one task id, so Interrupt stops them all
            job = runtime.submit_all([replace(req, task_id=task) for req in requests], task_id=task)
        except QueueFullError as e:
            yield {panel.progress: "", panel.html_log: error_html(describe_error(e))}
            return
        for update in follow_job(job, runtime.queue, poll):
            if update.error is not None:
                yield final_outputs(runtime, panel, update, time.perf_counter() - started, notes)
                return
            if update.result is None:
                yield progress_outputs(runtime, panel, update)
            else:
                results = update.result
        done = RunUpdate(result=merge_results(results))
        yield final_outputs(runtime, panel, done, time.perf_counter() - started, notes)

    return generate


def _wire_sub_tabs(inputs: Img2ImgInputs, params: Img2ImgParams) -> None:
    """Selecting a sub-tab stores its name and shows the inpaint options exactly on the three inpaint
    sub-tabs, in one event: a `gr.State.change` chained to it does not fire reliably, which left the
    options hidden (or shown on the wrong sub-tab) depending on the order of clicks."""
    for name, tab in inputs.sub_tabs.items():
        tab.select(lambda _n=name: (_n, gr.update(visible=_n in MASK_TABS)),
                   outputs=[inputs.input_tab, params.inpaint_group], queue=False, show_progress="hidden")


def _wire_params(params: Img2ImgParams, fields: dict[str, Any], panel: OutputPanel) -> None:
    """The seed and size buttons act on their fields."""
    params.random_seed.click(lambda: -1, outputs=fields["seed"], queue=False, show_progress="hidden")
    for button in (params.reuse_seed, panel.reuse_seed):
        button.click(
            reuse_seed,
            inputs=[panel.result, panel.selected],
            outputs=fields["seed"],
            queue=False,
            show_progress="hidden",
        )
    params.swap_size.click(
        lambda w, h: (h, w),
        inputs=[fields["width"], fields["height"]],
        outputs=[fields["width"], fields["height"]],
        queue=False,
        show_progress="hidden",
    )


def _register_targets(ui: UiBuild, fields: dict[str, Any], inputs: Img2ImgInputs, panel: OutputPanel,
                      inpaint_controls: Any) -> None:
    """Where pasted infotexts and "Send to img2img/inpaint" land in this tab."""
    from modules.ui.send_to import SendTarget

    pasted = set(PASTE_FIELDS) | feature_paste_names(ui.runtime, TAB)
    ui.paste_targets[TAB] = {k: v for k, v in fields.items() if k in pasted or k.startswith(UNIT_PREFIX)}
    ui.paste_logs[TAB] = panel.html_log
    ui.send_targets["img2img"] = SendTarget(fields["init_img"], inputs.mode_tabs, "img2img_img2img_tab",
                                            inputs.input_tab, "img2img", inpaint_controls)
    ui.send_targets["inpaint"] = SendTarget(fields["init_img_with_mask"], inputs.mode_tabs, "img2img_inpaint_tab",
                                            inputs.input_tab, "Inpaint", inpaint_controls)


def build_img2img_tab(ui: UiBuild) -> None:
    """Build the img2img tab into the current Blocks context (a `TabSpec` build function)."""
    row = build_prompt_row(ui, TAB)
    build_extra_networks(TAB, ui.runtime)
    interrogate_buttons = build_img2img_buttons(ui)
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            inputs = build_input_tabs()
            params = build_params_column(ui)
            options = build_main_ui_options(ui, TAB)
            controlnet = build_controlnet_accordion(ui.runtime, TAB)
            script_fields = build_script_uis(ui, TAB)
            script_fields.update(build_selectable_uis(ui, TAB, params.fields["script_name"]))
        with gr.Column(scale=1, elem_id=f"{TAB}_output_column"):
            panel = build_output_panel(ui, TAB)
    fields = {**inputs.fields, **params.fields, **controlnet.fields,
              "prompt": row.prompt, "negative_prompt": row.negative_prompt, "styles": row.styles}
    _register_targets(ui, fields, inputs, panel, params.inpaint_group)
    ui.paste_targets[TAB].update({**controlnet.paste_targets(), **paste_targets(options)})
    register_paste_targets(ui, TAB)
    runtime = ui.runtime
    wire_generation(runtime, row, {**fields, **script_fields, **options}, panel, make_generate(runtime, panel), TAB)
    controlnet.wire_outputs(panel.result, panel.selected)
    _wire_sub_tabs(inputs, params)
    _wire_params(params, fields, panel)
    wire_prompt_tools(runtime, row, panel.html_log, fields["steps"])
    wire_paste_button(ui, row.paste, row.prompt, TAB, panel.html_log)
    wire_img2img_buttons(ui, interrogate_buttons, fields["init_img"], row.prompt, panel.html_log)
