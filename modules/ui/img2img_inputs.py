"""img2img's input sub-tabs, as A1111 lays them out: img2img, Sketch, Inpaint, Inpaint sketch,
Inpaint upload and Batch.

Which sub-tab is open decides where the picture (and the mask) comes from, so the tabs report
their name into a `gr.State` (`input_tab`) that Generate sends with the other fields. The
widgets are returned by the `Img2ImgForm` field they fill; "Send to" needs the `gr.Tabs` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.ui.img2img_form import INPUT_TABS


@dataclass
class Img2ImgInputs:
    """The sub-tabs' widgets by form field, the tabs by name, and the state holding the open one."""

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


def _batch_fields() -> dict[str, Any]:
    gr.HTML(
        "<p>Process pictures in a folder on the same machine where the server is running. "
        "Leave the output directory empty to save in the usual img2img folder.</p>"
    )
    return {
        "batch_input_dir": gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir"),
        "batch_output_dir": gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir"),
        "batch_mask_dir": gr.Textbox(
            label="Inpaint batch mask directory (required for inpaint batch processing only)",
            elem_id="img2img_batch_inpaint_mask_dir",
        ),
    }


def _sub_tabs(f: dict[str, Any], tabs: dict[str, Any]) -> None:
    """The six sub-tabs, in A1111's order; fills `f` (field -> widget) and `tabs` (name -> tab)."""
    with gr.Tab("img2img", id="img2img_img2img_tab", elem_id="img2img_img2img_tab") as tabs["img2img"]:
        f["init_img"] = gr.Image(
            label="Image for img2img",
            type="pil",
            image_mode="RGBA",
            elem_id="img2img_image",
            height=480,
            sources=("upload", "clipboard"),
        )
    with gr.Tab("Sketch", id="img2img_img2img_sketch_tab", elem_id="img2img_img2img_sketch_tab") as tabs["Sketch"]:
        f["sketch"] = _editor("img2img_sketch", "Image for img2img")
    with gr.Tab("Inpaint", id="img2img_inpaint_tab", elem_id="img2img_inpaint_tab") as tabs["Inpaint"]:
        f["init_img_with_mask"] = _editor("img2maskimg", "Image for inpainting with mask", mask_brush=True)
    with gr.Tab(
        "Inpaint sketch", id="img2img_inpaint_sketch_tab", elem_id="img2img_inpaint_sketch_tab"
    ) as tabs["Inpaint sketch"]:
        f["inpaint_color_sketch"] = _editor("inpaint_sketch", "Color sketch inpainting")
    with gr.Tab(
        "Inpaint upload", id="img2img_inpaint_upload_tab", elem_id="img2img_inpaint_upload_tab"
    ) as tabs["Inpaint upload"]:
        f["init_img_inpaint"] = gr.Image(label="Image for img2img", type="pil", elem_id="img_inpaint_base")
        f["init_mask_inpaint"] = gr.Image(label="Mask", type="pil", image_mode="RGBA", elem_id="img_inpaint_mask")
    with gr.Tab("Batch", id="img2img_batch_tab", elem_id="img2img_batch_tab") as tabs["Batch"]:
        f.update(_batch_fields())


def build_input_tabs() -> Img2ImgInputs:
    """The sub-tabs inside a `gr.Tabs`; the img2img tab wires their selection (it stores the sub-tab's
    name in the `input_tab` state and shows or hides the inpaint options)."""
    f: dict[str, Any] = {}
    tabs: dict[str, Any] = {}
    input_tab = gr.State(INPUT_TABS[0])
    with gr.Tabs(elem_id="mode_img2img") as mode_tabs:
        _sub_tabs(f, tabs)
    f["input_tab"] = input_tab
    return Img2ImgInputs(f, tabs, input_tab, mode_tabs)
