"""The right-hand side of a generation tab: progress, live preview, gallery, infotext and buttons.

The last result stays on the server (a per-session `gr.State`), so Save writes the real
images with their real infotexts rather than whatever the browser sends back.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from modules.engine.request import GenerationResult
from modules.ui.build_context import UiBuild
from modules.ui.output_actions import NothingToSaveError, save_shown_images
from modules.ui.progress_view import error_html, notice_html
from modules.ui.tool_button import tool_button

RESULT_HEIGHT = 480  # px of the result area (gallery, and the live preview over it)
SEND_TARGETS = (("img2img", "🖼️"), ("inpaint", "🎨️"), ("extras", "📐"))


@dataclass
class OutputPanel:
    progress: Any
    preview: Any
    gallery: Any
    html_info: Any
    html_log: Any
    download: Any
    result: Any  # gr.State: the last GenerationResult
    selected: Any  # gr.State: the gallery index the user picked, or None
    save: Any
    save_zip: Any
    reuse_seed: Any
    folder: Any
    folder_note: Any


def infotext_html(text: str, extra: str = "") -> str:
    body = html.escape(text).replace("\n", "<br>")
    time_note = f'<p class="sdui-time">{html.escape(extra)}</p>' if extra else ""
    return f'<div class="infotext">{body}</div>{time_note}'


def selected_infotext(result: GenerationResult | None, index: int | None) -> str:
    """The infotext of the picked image; a grid (or nothing picked) shows the first image's."""
    if result is None or not result.infotexts:
        return ""
    if index is None or index < result.index_of_first_image or index >= len(result.infotexts):
        index = min(result.index_of_first_image, len(result.infotexts) - 1)
    return result.infotexts[index]


def save_folder(runtime: Any) -> Path:
    """`outdir_save` (default log/images) under the data folder, as A1111 resolves it."""
    from modules.runtime import allowed_output_dirs
    from modules.storage.output_folders import resolve_output_folder

    configured = str(runtime.settings.get("outdir_save") or "")
    if not configured:
        return runtime.paths.log_images_dir
    return resolve_output_folder(configured, runtime.paths.data_dir, allowed_output_dirs(runtime.args),
                                 what="setting 'outdir_save':")


def save_handler(runtime: Any, result: GenerationResult | None, selected: int | None,
                 make_zip: bool) -> tuple[Any, str]:
    args = runtime.args
    try:
        if result is None:
            raise NothingToSaveError("there is no image to save yet: generate one first")
        outcome = save_shown_images(result, selected, save_folder(runtime), runtime.settings.snapshot(),
                                    make_zip=make_zip, filenames_max_length=args.filenames_max_length,
                                    unix_filenames_sanitization=args.unix_filenames_sanitization)
    except (NothingToSaveError, OSError, ValueError) as e:
        return gr.update(visible=False), error_html(f"Not saved: {e}")
    files = [outcome.zip_file] if outcome.zip_file else outcome.files
    return gr.update(value=files, visible=True), notice_html(outcome.message())


SENDABLE = ("img2img", "inpaint")  # targets that exist; Extras arrives with its own issue


def _buttons(tab: str) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    sends: dict[str, Any] = {}
    with gr.Row(elem_id=f"image_buttons_{tab}", elem_classes=["image-buttons"]):
        folder = tool_button("📂", f"{tab}_open_folder")
        save = tool_button("💾", f"save_{tab}")
        save_zip = tool_button("🗃️", f"save_zip_{tab}")
        for target, icon in SEND_TARGETS:
            if target in SENDABLE:
                sends[target] = tool_button(icon, f"{tab}_send_to_{target}")
            else:
                # Disabled until the target tab exists; javascript/ui.js gives them an explanatory tooltip.
                tool_button(icon, f"{tab}_send_to_{target}", elem_classes=["sdui-not-yet"], interactive=False)
        reuse = tool_button("♻️", f"{tab}_reuse_seed_output")
    return folder, save, save_zip, reuse, sends


def picked_image(result: GenerationResult | None, index: int | None) -> tuple[Any, str]:
    """The picture a Send-to button sends (the picked one, else the first non-grid) and its infotext."""
    if result is None or not result.images:
        return None, ""
    first = min(result.index_of_first_image, len(result.images) - 1)
    if index is None or not 0 <= index < len(result.images):
        index = first
    return result.images[index], selected_infotext(result, index)


def build_output_panel(ui: UiBuild, tab: str) -> OutputPanel:
    with gr.Column(elem_id=f"{tab}_results", variant="panel"):
        progress = gr.HTML("", elem_id=f"{tab}_progress", elem_classes=["sdui-progress-holder"])
        # One area of fixed height for the result and, laid over it while a job runs, the live preview
        # scaled to fill it (style.css): nothing appears, vanishes or moves as a job starts and ends.
        with gr.Column(elem_id=f"{tab}_gallery_container", elem_classes=["sdui-result-area"]):
            preview = gr.HTML("", elem_id=f"{tab}_preview", elem_classes=["sdui-preview"])
            gallery = gr.Gallery(label="Output", show_label=False, elem_id=f"{tab}_gallery", columns=4,
                                 format="png", object_fit="contain", interactive=False, height=RESULT_HEIGHT)
        # Errors and notes right under the picture (not below the infotext), where the eye already is.
        html_log = gr.HTML("", elem_id=f"html_log_{tab}")
        folder, save, save_zip, reuse, sends = _buttons(tab)
        folder_note = gr.HTML("", elem_id=f"{tab}_folder_note")
        download = gr.File(None, file_count="multiple", interactive=False, visible=False,
                           elem_id=f"download_files_{tab}", label="Saved files")
        html_info = gr.HTML("", elem_id=f"html_info_{tab}", elem_classes=["infotext-holder"])
    panel = OutputPanel(progress, preview, gallery, html_info, html_log, download, gr.State(None),
                        gr.State(None), save, save_zip, reuse, folder, folder_note)
    _wire(ui.runtime, panel, tab)
    from modules.ui.send_to import wire_send_button

    for target, button in sends.items():
        wire_send_button(ui, button, target, [panel.result, panel.selected], html_log, picked_image, tab)
    return panel


def folder_message(runtime: Any, tab: str) -> str:
    """Where files go; opening a folder only makes sense on the server's own desktop, so we show it."""
    outdir = str(runtime.settings.get(f"outdir_{tab}_samples") or f"outputs/{tab}-images")
    path = Path(outdir) if Path(outdir).is_absolute() else runtime.paths.data_dir / outdir
    return notice_html(f"Generated images: {path} — Save button: {save_folder(runtime)}")


def _wire(runtime: Any, panel: OutputPanel, tab: str) -> None:
    def on_select(result: GenerationResult | None, evt: gr.SelectData) -> tuple[int | None, str]:
        index = int(evt.index) if evt is not None and evt.index is not None else None
        return index, infotext_html(selected_infotext(result, index))

    panel.gallery.select(on_select, inputs=panel.result, outputs=[panel.selected, panel.html_info],
                         show_progress="hidden")
    for button, make_zip in ((panel.save, False), (panel.save_zip, True)):
        button.click(lambda r, s, _z=make_zip: save_handler(runtime, r, s, _z),
                     inputs=[panel.result, panel.selected], outputs=[panel.download, panel.html_log],
                     show_progress="minimal")
    panel.folder.click(lambda: folder_message(runtime, tab), outputs=panel.folder_note,
                       show_progress="hidden")
