"""The Extras tab (A1111 layout): Single Image, Batch Process and Batch from Directory; resize by
or to a size, Upscaler 1, Upscaler 2 blended by its visibility. Results go to
`outputs/extras-images/` (or the batch output folder) with their infotext, through the job queue."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

from modules.extras.folders import confined_folder, images_in, input_roots, output_roots
from modules.extras.params import ExtrasInputError, ExtrasParams
from modules.extras.run import ExtrasInput, run_extras
from modules.extras.saving import extras_folder
from modules.face_restoration.models import FaceRestorationError
from modules.ui.build_context import UiBuild
from modules.ui.progress_view import error_html
from modules.upscalers.catalog import UnknownUpscalerError

log = logging.getLogger(__name__)

MODES = ("Single Image", "Batch Process", "Batch from Directory")


def _open(path: str) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image.copy()


def gather_inputs(runtime: Any, mode: str, single: Image.Image | None, files: list[Any] | None,
                  input_dir: str) -> list[ExtrasInput]:
    """The pictures of the chosen mode; a clear ExtrasInputError when there are none."""
    if mode == MODES[0]:
        if single is None:
            raise ExtrasInputError("Drop a picture into Source first.")
        return [ExtrasInput(single)]
    if mode == MODES[1]:
        paths = [getattr(f, "name", f) for f in files or []]
        if not paths:
            raise ExtrasInputError("Add one or more pictures to Batch Process first.")
        return [ExtrasInput(_open(p), Path(p).stem) for p in paths]
    if not input_dir.strip():
        raise ExtrasInputError("Enter an input directory for Batch from Directory.")
    folder = confined_folder(input_dir, runtime.paths.data_dir, input_roots(runtime.args), "input folder",
                             "--gradio-allowed-path")
    found = images_in(folder)
    if not found:
        raise ExtrasInputError(f"No pictures in the input folder {input_dir!r}.")
    return [ExtrasInput(_open(p), p.stem) for p in found]


def run_from_ui(runtime: Any, mode: str, single: Image.Image | None, files: list[Any] | None, input_dir: str,
                output_dir: str, show_results: bool, resize_tab: str, scale_by: float, width: int, height: int,
                crop: bool, upscaler_1: str, upscaler_2: str, visibility: float, gfpgan: float = 0.0,
                codeformer: float = 0.0, codeformer_weight: float = 0.0) -> tuple[list[Any], str, str]:
    """(gallery, infotext html, error html) for the Generate button."""
    params = ExtrasParams(resize_mode=1 if resize_tab == "Scale to" else 0, upscaling_resize=float(scale_by),
                          upscaling_resize_w=int(width), upscaling_resize_h=int(height), upscaling_crop=bool(crop),
                          upscaler_1=upscaler_1 or "None", upscaler_2=upscaler_2 or "None",
                          extras_upscaler_2_visibility=float(visibility), gfpgan_visibility=float(gfpgan),
                          codeformer_visibility=float(codeformer), codeformer_weight=float(codeformer_weight))
    settings = runtime.settings.view()
    try:
        params.validate()
        inputs = gather_inputs(runtime, mode, single, files, input_dir)
        save_to = extras_folder(settings, runtime.paths.data_dir)
        if mode == MODES[2] and output_dir.strip():
            save_to = confined_folder(output_dir, runtime.paths.data_dir, output_roots(runtime.args),
                                      "output folder", "--allowed-output-dir")
        result = runtime.queue.run(lambda control: run_extras(inputs, params, runtime.upscalers, settings, control,
                                                              save_to=save_to, faces=runtime.faces),
                                   kind="extras")
    except (ExtrasInputError, UnknownUpscalerError, FaceRestorationError, UnidentifiedImageError, OSError) as err:
        return [], "", error_html(str(err))
    shown = [o.image for o in result.outputs] if (show_results or mode != MODES[2]) else []
    return shown, f"<p>{html.escape(result.html_info)}</p>", ""


def build_tab(ui: UiBuild) -> None:
    runtime = ui.runtime
    names = runtime.upscalers.names() if runtime.upscalers is not None else ["None"]
    with gr.Row(equal_height=False, elem_id="extras_row"):
        with gr.Column(variant="panel"):
            with gr.Tabs(elem_id="extras_mode") as mode_tabs:
                with gr.Tab(MODES[0], id="single", elem_id="extras_single_tab") as t_single:
                    single = gr.Image(label="Source", type="pil", image_mode="RGB", elem_id="extras_image",
                                      sources=["upload", "clipboard"])
                with gr.Tab(MODES[1], id="batch", elem_id="extras_batch_process_tab") as t_batch:
                    files = gr.File(label="Batch Process", file_count="multiple", elem_id="extras_image_batch")
                with gr.Tab(MODES[2], id="dir", elem_id="extras_batch_directory_tab") as t_dir:
                    input_dir = gr.Textbox(label="Input directory", elem_id="extras_batch_input_dir",
                                           placeholder="A folder inside the data folder")
                    output_dir = gr.Textbox(label="Output directory", elem_id="extras_batch_output_dir",
                                            placeholder="Leave blank to save to the default folder")
                    show_results = gr.Checkbox(label="Show result images", value=True,
                                               elem_id="extras_show_extras_results")
            mode = gr.State(MODES[0])
            for tab, name in ((t_single, MODES[0]), (t_batch, MODES[1]), (t_dir, MODES[2])):
                tab.select(lambda n=name: n, outputs=[mode], queue=False)
            submit = gr.Button("Generate", variant="primary", elem_id="extras_generate")
            with gr.Tabs(elem_id="extras_resize_mode"):
                resize_tab = gr.State("Scale by")
                with gr.Tab("Scale by", elem_id="extras_scale_by_tab") as t_by:
                    scale_by = gr.Slider(1.0, 8.0, value=2.0, step=0.05, label="Resize",
                                         elem_id="extras_upscaling_resize")
                with gr.Tab("Scale to", elem_id="extras_scale_to_tab") as t_to:
                    with gr.Row():
                        width = gr.Number(label="Width", value=512, precision=0, elem_id="extras_upscaling_resize_w")
                        height = gr.Number(label="Height", value=512, precision=0,
                                           elem_id="extras_upscaling_resize_h")
                        crop = gr.Checkbox(label="Crop to fit", value=True, elem_id="extras_upscaling_crop")
                t_by.select(lambda: "Scale by", outputs=[resize_tab], queue=False)
                t_to.select(lambda: "Scale to", outputs=[resize_tab], queue=False)
            with gr.Row():
                upscaler_1 = gr.Dropdown(names, value="None", label="Upscaler 1", elem_id="extras_upscaler_1")
                upscaler_2 = gr.Dropdown(names, value="None", label="Upscaler 2", elem_id="extras_upscaler_2")
                visibility = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="Upscaler 2 visibility",
                                       elem_id="extras_upscaler_2_visibility")
            with gr.Row():
                gfpgan = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="GFPGAN visibility",
                                   elem_id="extras_gfpgan_visibility")
                codeformer = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="CodeFormer visibility",
                                       elem_id="extras_codeformer_visibility")
                codeformer_weight = gr.Slider(0.0, 1.0, value=0.0, step=0.001,
                                              label="CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                                              elem_id="extras_codeformer_weight")
        with gr.Column(variant="panel"):
            gallery = gr.Gallery(label="Result", show_label=False, elem_id="extras_gallery", columns=4)
            info = gr.HTML(elem_id="extras_html_info")
            error = gr.HTML(elem_id="extras_error")
    del mode_tabs
    submit.click(lambda *a: run_from_ui(runtime, *a),
                 inputs=[mode, single, files, input_dir, output_dir, show_results, resize_tab, scale_by, width,
                         height, crop, upscaler_1, upscaler_2, visibility, gfpgan, codeformer, codeformer_weight],
                 outputs=[gallery, info, error])
