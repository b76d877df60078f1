"""The txt2img tab: prompt row, parameter column, output panel, and the events between them.

Generate builds a `GenerationRequest` from the widgets by name (`Txt2ImgForm`), submits it to
the shared job queue, and streams queue position, progress and previews until the result
arrives. Interrupt and Skip act on this browser tab's own job, not on whoever runs now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from modules.engine.request import GenerationResult
from modules.engine.validation import InvalidRequestError, steps_bound, validate_request
from modules.jobs.queue import QueueFullError, new_task_id
from modules.settings.schema import infotext_to_option_keys
from modules.ui.build_context import UiBuild
from modules.ui.controlnet_form import request_with_units, split_unit_values
from modules.ui.controlnet_units import build_controlnet_accordion
from modules.ui.extension_scripts import (
    build_script_uis,
    build_selectable_uis,
    register_paste_targets,
    selected_script_args,
    split_script_values,
)
from modules.ui.extra_networks_ui import build_extra_networks
from modules.ui.generation_runner import RunUpdate, describe_error, follow_job, poll_interval
from modules.ui.main_ui_options import (
    apply_main_ui_options,
    build_main_ui_options,
    paste_targets,
    split_main_ui_options,
)
from modules.ui.output_panel import OutputPanel, build_output_panel, infotext_html, selected_infotext
from modules.ui.paste_wiring import wire_paste_button
from modules.ui.progress_view import error_html, notice_html, preview_html
from modules.ui.prompt_row import PromptRow, build_prompt_row
from modules.ui.prompt_wiring import wire_prompt_tools
from modules.ui.refiner_accordion import check_pass_checkpoints
from modules.ui.table_fields import app_fields, split_table_values
from modules.ui.txt2img_form import Txt2ImgForm, round_size_fields, to_request
from modules.ui.txt2img_params import ParamsColumn, build_params_column

TAB = "txt2img"


def submit_form(runtime: Any, form: Txt2ImgForm, task_id: str, scripts: dict[str, Any] | None = None,
                units: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None,
                table_values: dict[str, Any] | None = None) -> Any:
    """Validate and queue; raises InvalidRequestError/QueueFullError with a user-facing message.
    `scripts`: extension script values (`alwayson_scripts`, `script_args`), see ui/extension_scripts.py;
    `units`: the ControlNet accordion's units; `options`: settings shown in the tab (ui/main_ui_options.py);
    `table_values`: features' own request fields (ui/table_fields.py)."""
    req = to_request(form, option_keys=infotext_to_option_keys(runtime.settings.schema),
                     coerce_settings=runtime.settings.validate, task_id=task_id)
    req = apply_main_ui_options(runtime, req, options or {})
    if scripts:
        req = req.with_changes(**scripts)
    req = req.with_values(table_values or {})
    validate_request(req, max_steps=steps_bound(runtime.settings), fields=app_fields(runtime))
    check_pass_checkpoints(runtime, req)
    req = request_with_units(getattr(runtime, "controlnet", None), req, units or [])
    return runtime.submit(req)


def final_outputs(runtime: Any, panel: OutputPanel, update: RunUpdate, elapsed: float,
                  notes: Sequence[str] = ()) -> dict[Any, Any]:
    """The last update of a run; an error keeps the previous pictures (the gallery is not touched)."""
    done = {panel.progress: "", panel.preview: ""}
    if update.error is not None:
        return {**done, panel.html_log: error_html(update.error)}
    result: GenerationResult = update.result  # type: ignore[assignment]
    images = [] if runtime.settings.get("do_not_show_images", False) else list(result.images)
    said = list(notes)
    if result.interrupted:
        said.append("Interrupted: showing the images finished before it.")
    if not result.images:
        said.append("No image was finished.")
    said += list(result.comments)  # e.g. a LoRA that was not found
    note = "".join(notice_html(n) for n in said)
    info = infotext_html(selected_infotext(result, None), f"Time taken: {elapsed:.1f} sec.")
    return {**done, panel.gallery: images, panel.html_info: info, panel.html_log: note, panel.result: result,
            panel.selected: None}


def progress_outputs(runtime: Any, panel: OutputPanel, update: RunUpdate) -> dict[Any, Any]:
    show_bar = runtime.settings.get("show_progressbar", True)
    out: dict[Any, Any] = {panel.progress: update.progress if show_bar else ""}
    if update.preview is not None and runtime.settings.get("live_previews_enable", True):
        out[panel.preview] = preview_html(update.preview)
    return out


def make_generate(runtime: Any, panel: OutputPanel) -> Any:
    def generate(task_id: str | None, **values: Any) -> Iterator[dict[Any, Any]]:
        started = time.perf_counter()
        values, units = split_unit_values(values)
        values, options = split_main_ui_options(values)
        try:
            form_values, scripts = script_request_fields(values)
            form_values, table_values = split_table_values(form_values, app_fields(runtime),
                                                           Txt2ImgForm.field_names())
            form, notes = round_size_fields(Txt2ImgForm(**form_values))
            job = submit_form(runtime, form, task_id or new_task_id(TAB), scripts, units, options, table_values)
        except (InvalidRequestError, QueueFullError, ValueError) as e:
            yield {panel.progress: "", panel.html_log: error_html(describe_error(e))}
            return
        yield {panel.html_log: "".join(notice_html(n) for n in notes), panel.download: gr.update(visible=False)}
        poll = poll_interval(runtime.settings.get("live_preview_refresh_period", 1000))
        for update in follow_job(job, runtime.queue, poll):
            if update.result is None and update.error is None:
                yield progress_outputs(runtime, panel, update)
            else:
                yield final_outputs(runtime, panel, update, time.perf_counter() - started, notes)

    return generate


def script_request_fields(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the extension scripts' widget values off the form's values."""
    values, alwayson = split_script_values(values)
    values, args = selected_script_args(values, values.get("script_name"))
    scripts: dict[str, Any] = {"alwayson_scripts": alwayson} if alwayson else {}
    if args:
        scripts["script_args"] = args
    return values, scripts


def interrupt_job(runtime: Any, task_id: str | None) -> None:
    """Stop this tab's job: a waiting one leaves the queue, a running one keeps finished images."""
    if task_id:
        runtime.queue.cancel(task_id)


def skip_image(runtime: Any, task_id: str | None) -> None:
    job = runtime.queue.get(task_id) if task_id else None
    if job is not None and not job.finished and job.status == "running":
        job.control.skip()


def reuse_seed(result: GenerationResult | None, selected: int | None, subseed: bool = False) -> Any:
    """The seed of the picked image (or of the first one), as ♻️ does in A1111."""
    seeds = (result.subseeds if subseed else result.seeds) if result is not None else []
    if not seeds:
        return gr.update()
    first = result.index_of_first_image if result is not None else 0
    index = 0 if selected is None or selected < first else selected - first
    return seeds[min(index, len(seeds) - 1)]


def wire_generation(runtime: Any, row: PromptRow, fields: dict[str, Any], panel: OutputPanel,
                    generate: Callable[..., Iterator[dict[Any, Any]]], tab: str = TAB) -> None:
    """Generate, Interrupt and Skip of a tab whose `generate(task_id, **fields)` streams panel updates
    (img2img wires its own generate the same way). The task id is made in the browser's session
    first, so Interrupt and Skip reach this tab's job even while it still waits in the queue."""
    task = gr.State(None)
    outputs = [panel.progress, panel.preview, panel.gallery, panel.html_info, panel.html_log, panel.result,
               panel.selected, panel.download]
    # While this tab's job waits or runs, Interrupt and Skip take Generate's place (A1111's swap), so a
    # second click cannot be swallowed by gradio's one-run-per-trigger rule without a word.
    row.generate.click(None, js=f"() => sduiJobStarted('{tab}')")
    row.generate.click(lambda: new_task_id(tab), outputs=task, queue=False, show_progress="hidden").then(
        generate, inputs_kwargs={"task_id": task, **fields}, outputs=outputs,
        show_progress="hidden", concurrency_limit=None, api_visibility="private").then(
        None, js=f"() => sduiJobEnded('{tab}')")
    row.interrupt.click(lambda t: interrupt_job(runtime, t), inputs=task, queue=False, show_progress="hidden")
    row.skip.click(lambda t: skip_image(runtime, t), inputs=task, queue=False, show_progress="hidden")


def _wire_seeds(params: ParamsColumn, fields: dict[str, Any], panel: OutputPanel) -> None:
    seed, subseed = fields["seed"], fields["subseed"]
    params.random_seed.click(lambda: -1, outputs=seed, queue=False, show_progress="hidden")
    params.random_subseed.click(lambda: -1, outputs=subseed, queue=False, show_progress="hidden")
    for button in (params.reuse_seed, panel.reuse_seed):
        button.click(reuse_seed, inputs=[panel.result, panel.selected], outputs=seed, queue=False,
                     show_progress="hidden")
    params.reuse_subseed.click(lambda r, s: reuse_seed(r, s, subseed=True),
                               inputs=[panel.result, panel.selected], outputs=subseed, queue=False,
                               show_progress="hidden")
    params.swap_size.click(lambda w, h: (h, w), inputs=[fields["width"], fields["height"]],
                           outputs=[fields["width"], fields["height"]], queue=False, show_progress="hidden")


def build_tab(ui: UiBuild) -> None:
    """Build the tab's widgets and events; registers its fields as paste targets."""
    row = build_prompt_row(ui, TAB)
    build_extra_networks(TAB, ui.runtime)
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            params = build_params_column(ui)
            options = build_main_ui_options(ui, TAB)
            controlnet = build_controlnet_accordion(ui.runtime, TAB)
            script_fields = build_script_uis(ui, TAB)
            script_fields.update(build_selectable_uis(ui, TAB, params.fields["script_name"]))
        with gr.Column(scale=1, elem_id=f"{TAB}_output_column"):
            panel = build_output_panel(ui, TAB)
    fields = {"prompt": row.prompt, "negative_prompt": row.negative_prompt, "styles": row.styles,
              **params.fields, **controlnet.fields}
    ui.paste_targets[TAB] = {**fields, "variation_accordion": params.variation_accordion,
                             **controlnet.paste_targets(), **paste_targets(options)}
    ui.paste_logs[TAB] = panel.html_log
    register_paste_targets(ui, TAB)
    wire_generation(ui.runtime, row, {**fields, **script_fields, **options}, panel, make_generate(ui.runtime, panel))
    controlnet.wire_outputs(panel.result, panel.selected)
    _wire_seeds(params, fields, panel)
    wire_prompt_tools(ui.runtime, row, panel.html_log, fields["steps"])
    wire_paste_button(ui, row.paste, row.prompt, TAB, panel.html_log)
