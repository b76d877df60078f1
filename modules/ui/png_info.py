"""The PNG Info tab: drop an image, read its generation parameters and other metadata, and send
them to txt2img (every field the infotext names, with a warning when its checkpoint differs).

The upload is read as the original file (`type="filepath"`, no mode conversion), so PNG text
chunks and EXIF comments survive exactly as the image carried them.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

from modules.images.pnginfo import read_info_from_image
from modules.ui.build_context import UiBuild
from modules.ui.image_file_input import image_file_input
from modules.ui.infotext_paste import checkpoint_mismatch
from modules.ui.paste_actions import loaded_checkpoint_names, parse_for_paste
from modules.ui.paste_wiring import paste_into
from modules.ui.progress_view import error_html, notice_html

log = logging.getLogger(__name__)

NOTHING_FOUND = "<div><p>Nothing found in the image.</p></div>"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return html.escape(str(value)).replace("\n", "<br>")


def metadata_html(geninfo: str | None, items: dict[str, Any]) -> str:
    """A1111's layout: one block per metadata item, generation parameters first."""
    entries = ([("parameters", geninfo)] if geninfo else []) + list(items.items())
    if not entries:
        return NOTHING_FOUND
    return "".join(f"<div><p><b>{_text(k)}</b></p><p>{_text(v)}</p></div>" for k, v in entries)


def _sampler_lookup(runtime: Any) -> Any:
    def lookup(name: str) -> str | None:
        try:
            return runtime.samplers.resolve_names(name)[0]
        except ValueError:
            return None

    return lookup


def read_image(runtime: Any, path: str | None) -> tuple[str, str, str]:
    """(metadata html, infotext, status html) for the uploaded file at `path`."""
    if not path:
        return "", "", ""
    try:
        with Image.open(path) as image:
            geninfo, items = read_info_from_image(image, _sampler_lookup(runtime))
    except UnidentifiedImageError:
        return "", "", error_html(f"{Path(path).name} is not an image: drop a PNG, JPEG or WebP picture.")
    except OSError as e:
        return "", "", error_html(f"{Path(path).name} could not be read as an image ({e.strerror or e}): "
                                  "it may be damaged; try another copy.")
    status = ""
    if geninfo:
        names, title = loaded_checkpoint_names(runtime)
        mismatch = checkpoint_mismatch(parse_for_paste(runtime, geninfo), names, title)
        status = notice_html(f"Note: {mismatch}") if mismatch else ""
    return metadata_html(geninfo, items), geninfo or "", status


def build_tab(ui: UiBuild) -> None:
    runtime = ui.runtime
    with gr.Row(equal_height=False, elem_id="pnginfo_row"):
        with gr.Column(variant="panel"):
            image = image_file_input(label="Source", sources=["upload", "clipboard"], image_mode=None,
                                     elem_id="pnginfo_image", height=480)
        with gr.Column(variant="panel"):
            info_html = gr.HTML(elem_id="pnginfo_html")
            infotext = gr.Textbox(visible=False, elem_id="pnginfo_generation_info")
            status = gr.HTML(elem_id="pnginfo_status")
            with gr.Row(elem_id="pnginfo_send_buttons"):
                send_txt2img = gr.Button("Send to txt2img", elem_id="pnginfo_send_txt2img")
                sends = {t: gr.Button(f"Send to {t}", elem_id=f"pnginfo_send_{t}") for t in ("img2img", "inpaint")}
                gr.Button("Send to extras", elem_id="pnginfo_send_extras", interactive=False,
                          elem_classes=["sdui-not-yet"])
    image.change(lambda path: read_image(runtime, path), inputs=image,
                 outputs=[info_html, infotext, status], show_progress="hidden")

    def send(text: str) -> dict[Any, Any]:
        log_box = ui.paste_logs["txt2img"]
        if not text:
            return {status: error_html("This image has no generation parameters to send.")}
        return {**paste_into(ui, text, "txt2img", log_box), ui.tabs: gr.Tabs(selected="txt2img")}

    def deferred() -> None:
        if "txt2img" not in ui.paste_targets:
            return
        outputs = [*ui.paste_targets["txt2img"].values(), ui.paste_logs["txt2img"], ui.tabs, status]
        send_txt2img.click(send, inputs=infotext, outputs=outputs, show_progress="hidden")

    ui.after_build.append(deferred)
    from modules.ui.send_to import wire_send_button

    def pick(path: str | None, text: str) -> tuple[Image.Image | None, str]:
        if not path:
            return None, ""
        try:
            with Image.open(path) as im:
                return im.convert("RGB"), text or ""
        except (UnidentifiedImageError, OSError):
            return None, ""  # "There is no image to send."

    for target, button in sends.items():
        wire_send_button(ui, button, target, [image, infotext], status, pick)
