"""The Interrogate tab (Prompt, Analyze, Batch sub-tabs) and img2img's Interrogate buttons.

Layout and element ids follow clip-interrogator-ext where it has them; the work is in
interrogate_actions.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gradio as gr
from PIL import Image

from modules.interrogate.batch import FORMATS
from modules.ui import interrogate_actions as act
from modules.ui.build_context import UiBuild
from modules.ui.progress_view import error_html, running_html, starting_html

POLL_S = 0.5


def _model_pickers(ui: UiBuild, prefix: str, with_caption: bool = True) -> tuple[Any, Any]:
    svc = act.service(ui.runtime)
    clips = svc.clip_names()
    clip_default = ui.runtime.settings.get("interrogate_clip_model_name") or (clips[0] if clips else None)
    clip = gr.Dropdown(clips, value=clip_default if clip_default in clips else None, label="CLIP Model",
                       elem_id=f"{prefix}_clip_model")
    caption = None
    if with_caption:
        captions = svc.caption_names()
        cap_default = ui.runtime.settings.get("interrogate_caption_model_name") or (captions[0] if captions else None)
        caption = gr.Dropdown(captions, value=cap_default if cap_default in captions else None,
                              label="Caption Model", elem_id=f"{prefix}_caption_model")
    return clip, caption


def _prompt_tab(ui: UiBuild) -> None:
    runtime = ui.runtime
    with gr.Row(equal_height=False):
        with gr.Column():
            image = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"], elem_id="interrogate_image",
                             height=360)
            mode = gr.Radio(list(act.TAB_MODES), value="best", label="Mode", elem_id="interrogate_mode",
                            info="deepbooru: tags from the DeepDanbooru model (models/torch_deepdanbooru)")
            clip, caption = _model_pickers(ui, "interrogate")
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", lines=4, elem_id="interrogate_prompt", buttons=["copy"])
            status = gr.HTML(elem_id="interrogate_status")
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="interrogate_generate")
                unload = gr.Button("Unload", elem_id="interrogate_unload")
            with gr.Row(elem_id="interrogate_send_buttons"):
                send_txt = gr.Button("Send to txt2img", elem_id="interrogate_send_txt2img")
                sends = {t: gr.Button(f"Send to {t}", elem_id=f"interrogate_send_{t}") for t in ("img2img", "inpaint")}
                gr.Button("Send to extras", elem_id="interrogate_send_extras", interactive=False,
                          elem_classes=["sdui-not-yet"])
    generate.click(lambda im, m, c, cap: act.run_prompt(runtime, im, m, c, cap), inputs=[image, mode, clip, caption],
                   outputs=[prompt, status])

    def do_unload() -> str:
        runtime.queue.run(lambda _c: act.service(runtime).unload(), kind="interrogate")
        return "<div class='sdui-notice'>Interrogation models unloaded.</div>"

    unload.click(do_unload, outputs=status)
    _wire_sends(ui, image, prompt, status, send_txt, sends)


def _wire_sends(ui: UiBuild, image: Any, prompt: Any, status: Any, send_txt: Any, sends: dict[str, Any]) -> None:
    from modules.ui.paste_wiring import paste_into
    from modules.ui.send_to import wire_send_button

    def to_txt2img(text: str) -> dict[Any, Any]:
        if not text:
            return {status: error_html("Generate a prompt first.")}
        return {**paste_into(ui, text, "txt2img", ui.paste_logs["txt2img"]), ui.tabs: gr.Tabs(selected="txt2img")}

    def deferred() -> None:
        if "txt2img" in ui.paste_targets:
            outputs = [*ui.paste_targets["txt2img"].values(), ui.paste_logs["txt2img"], ui.tabs, status]
            send_txt.click(to_txt2img, inputs=prompt, outputs=outputs, show_progress="hidden")

    ui.after_build.append(deferred)
    for target, button in sends.items():
        wire_send_button(ui, button, target, [image, prompt], status,
                         lambda im, text: (im if isinstance(im, Image.Image) else None, text or ""))


def _analyze_tab(ui: UiBuild) -> None:
    runtime = ui.runtime
    with gr.Row(equal_height=False):
        with gr.Column():
            image = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"], elem_id="analyze_image",
                             height=360)
            clip, _ = _model_pickers(ui, "analyze", with_caption=False)
            labels = gr.Textbox(label="Your labels (one per line), ranked by CLIP", lines=5,
                                elem_id="analyze_labels", placeholder="red\ngreen\nblue")
            button = gr.Button("Analyze", variant="primary", elem_id="analyze_button")
            status = gr.HTML(elem_id="analyze_status")
        with gr.Column(elem_id="analyze_results"):
            panels = [gr.Label(label=title, num_top_classes=5, elem_id=f"analyze_{key}")
                      for key, title in act.ANALYZE_TITLES.items()]
            panels.append(gr.Label(label="Your labels", elem_id="analyze_user_labels"))

    def analyze(im: Image.Image | None, c: str | None, text: str) -> list[Any]:
        values, note = act.run_analyze(runtime, im, c, text)
        return [*values, note]

    button.click(analyze, inputs=[image, clip, labels], outputs=[*panels, status])


def _batch_tab(ui: UiBuild) -> None:
    runtime = ui.runtime
    with gr.Row(equal_height=False):
        with gr.Column():
            source = gr.Radio(["Folder", "Upload"], value="Folder", label="Pictures from", elem_id="batch_source")
            folder = gr.Textbox(label="Input folder (on the server, inside the data folder)", elem_id="batch_folder")
            uploads = gr.File(file_count="multiple", file_types=["image"], type="filepath", label="Pictures",
                              elem_id="batch_uploads")
            out_folder = gr.Textbox(label="Output folder (empty: beside the pictures, or outputs/interrogate)",
                                    elem_id="batch_out_folder")
            fmt = gr.Radio(list(FORMATS), value=next(iter(FORMATS)), label="Write", elem_id="batch_format")
            with gr.Row():
                prefix = gr.Textbox(label="Prefix", elem_id="batch_prefix")
                suffix = gr.Textbox(label="Suffix", elem_id="batch_suffix")
            skip = gr.Checkbox(label="Skip pictures that already have a caption", value=True, elem_id="batch_skip")
        with gr.Column():
            mode = gr.Radio(list(act.TAB_MODES), value="caption", label="Mode", elem_id="batch_mode",
                            info="deepbooru: tag each picture with DeepDanbooru (booru-style training captions)")
            clip, caption = _model_pickers(ui, "batch")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="batch_start")
                stop = gr.Button("Interrupt", elem_id="batch_interrupt")
            progress = gr.HTML(elem_id="batch_progress")
            task = gr.State("")

    def run(*values: Any) -> Iterator[tuple[str, str]]:
        src, fld, ups, out, fm, pre, suf, sk, md, cl, cap = values
        try:
            spec = act.batch_spec(runtime, src, fld, ups, out, fm, pre, suf, sk)
        except (ValueError, OSError) as err:
            yield error_html(str(err)), ""
            return
        job = act.submit_batch(runtime, spec, md, cl, cap)
        yield starting_html(), job.task_id
        while not job.finished:
            yield running_html(job.control.snapshot()), job.task_id
            time.sleep(POLL_S)
        try:
            yield act.report_html(job.wait()), ""
        except act.USER_ERRORS as err:
            yield error_html(str(err)), ""

    def interrupt(task_id: str) -> None:
        job = runtime.queue.get(task_id) if task_id else None
        if job is not None:
            job.control.interrupt()

    start.click(run, inputs=[source, folder, uploads, out_folder, fmt, prefix, suffix, skip, mode, clip, caption],
                outputs=[progress, task])
    stop.click(interrupt, inputs=task, show_progress="hidden")


def build_tab(ui: UiBuild) -> None:
    """The Interrogate tab (a `TabSpec` build function)."""
    with gr.Tabs(elem_id="interrogate_tabs"):
        with gr.Tab("Prompt", id="interrogate_prompt_tab"):
            _prompt_tab(ui)
        with gr.Tab("Analyze", id="interrogate_analyze_tab"):
            _analyze_tab(ui)
        with gr.Tab("Batch", id="interrogate_batch_tab"):
            _batch_tab(ui)


def build_img2img_buttons(ui: UiBuild) -> tuple[Any, Any]:
    """img2img's "Interrogate CLIP" / "Interrogate DeepBooru" buttons (wired by `wire_img2img_buttons`)."""
    with gr.Row(elem_id="img2img_interrogate_row"):
        clip = gr.Button("Interrogate CLIP", elem_id="interrogate", size="sm")
        booru = gr.Button("Interrogate DeepBooru", elem_id="deepbooru", size="sm")
    return clip, booru


def wire_img2img_buttons(ui: UiBuild, buttons: tuple[Any, Any], image: Any, prompt: Any, status: Any) -> None:
    """CLIP fills the prompt with the classic-mode prompt of the init image, DeepBooru with its tags (or says
    which model file to install)."""
    runtime = ui.runtime
    clip, booru = buttons

    def interrogate(im: Any, current: str) -> tuple[str, str]:
        picture = im if isinstance(im, Image.Image) else None
        text, note = act.run_prompt(runtime, picture, "classic", None, None)
        return (text or current), note

    clip.click(interrogate, inputs=[image, prompt], outputs=[prompt, status])
    def tag(im: Any, current: str) -> tuple[str, str]:
        text, note = act.run_deepbooru(runtime, im if isinstance(im, Image.Image) else None)
        return (text or current), note

    booru.click(tag, inputs=[image, prompt], outputs=[prompt, status])
