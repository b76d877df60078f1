"""The ControlNet tab: run any preprocessor on an image, and see the ControlNet models and folders."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.controlnet_units import module_choices, preview_map, slider_updates
from modules.ui.tool_button import tool_button


def models_html(service: Any, refresh: bool = False) -> str:
    """The model list with the folders it is read from (and where annotators go)."""
    rows = "".join(f"<tr><td>{html.escape(m.title)}</td><td>{html.escape(str(m.path))}</td></tr>"
                   for m in service.models(refresh))
    folders = ", ".join(html.escape(str(d)) for d in service.model_dirs)
    empty = "" if rows else "<tr><td colspan=2>No ControlNet models found.</td></tr>"
    return (f"<p>ControlNet models are read from: {folders}. Preprocessor weights (annotators) are read from "
            f"{html.escape(str(service.annotator_dir))}.</p>"
            f"<table class='sdui-table'><tr><th>Model</th><th>File</th></tr>{rows}{empty}</table>")


def build_tab(ui: UiBuild) -> None:
    """Built when the tab is first opened (as Settings): it costs the page load nothing."""
    service = getattr(ui.runtime, "controlnet", None)
    if service is None:
        gr.HTML("<p>ControlNet is not available in this session.</p>")
        return
    tab = ui.tab_items.get("controlnet")
    if tab is None:  # built outside create_blocks' tabs
        build_contents(service)
        return

    @gr.render(triggers=[tab.select], queue=False, show_progress="hidden")
    def _contents() -> None:
        build_contents(service)


def build_contents(service: Any) -> None:
    with gr.Row(equal_height=False):
        with gr.Column():
            image = gr.Image(label="Image", type="pil", sources=["upload", "clipboard"], elem_id="controlnet_tab_image")
            with gr.Row():
                module = gr.Dropdown(module_choices(service), value="canny", label="Preprocessor",
                                     elem_id="controlnet_tab_module")
                run = gr.Button("Run preprocessor", variant="primary", elem_id="controlnet_tab_run")
            res = gr.Slider(64, 2048, value=512, step=8, label="Preprocessor Resolution")
            a = gr.Slider(-1, 255, value=-1, label="Threshold A")
            b = gr.Slider(-1, 255, value=-1, label="Threshold B")
        with gr.Column():
            result = gr.Image(label="Detected map", interactive=False, elem_id="controlnet_tab_result")
    with gr.Row():
        listing = gr.HTML(models_html(service), elem_id="controlnet_tab_models")
        refresh = tool_button("🔄", "controlnet_tab_refresh_models")
    module.change(lambda m: slider_updates(service, m), inputs=module, outputs=[res, a, b], show_progress="hidden")
    run.click(lambda i, m, r, ta, tb: preview_map(service, i, m, r, ta, tb), inputs=[image, module, res, a, b],
              outputs=result)
    refresh.click(lambda: models_html(service, refresh=True), outputs=listing, show_progress="hidden")
