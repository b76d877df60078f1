"""The img2img tab: sub-tab inputs -> request by field name, Batch folders, and the built page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")

from modules.cmd_args import parse_args  # noqa: E402
from modules.engine.validation import InvalidRequestError  # noqa: E402
from modules.runtime import build_runtime  # noqa: E402
from modules.ui.blocks import TabSpec, create_blocks  # noqa: E402
from modules.ui.img2img import build_img2img_tab, make_generate  # noqa: E402
from modules.ui.img2img_batch import batch_requests  # noqa: E402
from modules.ui.img2img_form import Img2ImgForm, painted_mask, to_request  # noqa: E402


def picture(size=(64, 48), colour=(200, 30, 30)) -> Image.Image:
    return Image.new("RGB", size, colour)


def stroke_layer(size=(64, 48)) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (10, 10, 20, 20))
    return layer


def test_img2img_subtab_fields_reach_the_request():
    form = Img2ImgForm(prompt="a cat", init_img=picture(), denoising_strength=0.4,
                       resize_mode="Resize and fill", steps=12.0, width=128, height=96, seed="7",
                       batch_size=2)
    req = to_request(form)
    assert (req.mode, req.prompt, req.steps, req.seed, req.batch_size) == ("img2img", "a cat", 12, 7, 2)
    assert (req.width, req.height, req.denoising_strength, req.resize_mode) == (128, 96, 0.4, 2)
    assert req.init_images[0].size == (64, 48) and req.mask is None


def test_defaults_match_a1111_ui():
    req = to_request(Img2ImgForm(init_img=picture()))
    assert (req.denoising_strength, req.resize_mode, req.mask_blur_x, req.inpainting_fill) == (0.75, 0, 4, 1)
    assert (req.inpaint_full_res, req.inpaint_full_res_padding, req.inpainting_mask_invert) == (False, 32, 0)


def test_inpaint_uses_the_background_and_the_strokes_as_mask():
    white = picture(colour=(255, 255, 255))
    editor = {"background": picture(), "layers": [stroke_layer()], "composite": white}
    req = to_request(Img2ImgForm(input_tab="Inpaint", init_img_with_mask=editor, mask_blur=6,
                                 mask_mode="Inpaint not masked", inpainting_fill="latent noise",
                                 inpaint_full_res="Only masked", inpaint_full_res_padding=16))
    assert req.init_images[0].getpixel((0, 0)) == (200, 30, 30)
    mask = np.asarray(req.mask)
    assert mask[15, 15] == 255 and mask[30, 30] == 0 and mask.sum() == 100 * 255
    assert (req.mask_blur_x, req.mask_blur_y, req.inpainting_mask_invert, req.inpainting_fill) == (6, 6, 1, 2)
    assert req.inpaint_full_res and req.inpaint_full_res_padding == 16


def test_sketch_tabs_use_the_drawing_as_the_picture():
    drawn = picture(colour=(0, 0, 255))
    editor = {"background": picture(), "layers": [stroke_layer()], "composite": drawn}
    sketch = to_request(Img2ImgForm(input_tab="Sketch", sketch=editor))
    assert sketch.init_images[0].getpixel((1, 1)) == (0, 0, 255) and sketch.mask is None
    color = to_request(Img2ImgForm(input_tab="Inpaint sketch", inpaint_color_sketch=editor))
    assert color.init_images[0].getpixel((1, 1)) == (0, 0, 255) and color.mask is not None


def test_inpaint_upload_takes_a_separate_mask_and_other_tabs_drop_it():
    mask = Image.new("L", (64, 48), 255)
    form = Img2ImgForm(input_tab="Inpaint upload", init_img_inpaint=picture(), init_mask_inpaint=mask)
    req = to_request(form)
    assert req.mask is mask
    assert painted_mask({"layers": []}) is None


def test_resize_by_scales_the_picture_to_a_multiple_of_8():
    req = to_request(Img2ImgForm(init_img=picture((100, 60)), size_tab="Resize by", scale_by=1.5))
    assert (req.width, req.height) == (144, 88)  # 150 -> 144, 90 -> 88


def test_outpainting_script_args_are_a1111_ordered():
    req = to_request(Img2ImgForm.from_values(dict(init_img=picture(), script_name="Outpainting mk2",
                                                  outpaint_pixels=64.0, outpaint_directions=["left"])))
    assert req.script_name == "Outpainting mk2"
    assert req.script_args == ("", 64, 8, ["left"], 1.0, 0.05)
    with pytest.raises(InvalidRequestError, match="Pixels to expand must be a number"):
        to_request(Img2ImgForm.from_values(dict(init_img=picture(), script_name="Outpainting mk2",
                                                outpaint_pixels="lots")))


def test_script_widgets_come_from_the_scripts_declaration(built: Any):
    from modules.scripts.outpainting import DECLARATION

    components = built[1].config["components"]
    labels = {c["props"].get("label") for c in components}
    assert all(p.label in labels for p in DECLARATION.params)
    assert "script_img2img_outpainting_mk2" in built[2]


@pytest.mark.parametrize("form,message", [
    (Img2ImgForm(), "no picture in the 'img2img' tab"),
    (Img2ImgForm(input_tab="Inpaint", init_img_with_mask=None), "no picture in the 'Inpaint' tab"),
    (Img2ImgForm(init_img=picture(), resize_mode="Stretch"), "Resize mode must be one of Just resize"),
    (Img2ImgForm(init_img=picture(), denoising_strength="x"), "Denoising strength must be a number"),
    (Img2ImgForm(init_img=picture(), script_name="Loopback"), "script 'Loopback' is not known"),
])
def test_bad_form_values_are_named(form, message):
    with pytest.raises(InvalidRequestError, match=message):
        to_request(form)


def test_batch_makes_one_request_per_picture_with_its_mask(tmp_path: Path):
    src, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    src.mkdir()
    masks.mkdir()
    picture(colour=(1, 2, 3)).save(src / "a.png")
    picture(colour=(4, 5, 6)).save(src / "b.jpg")
    (src / "notes.txt").write_text("not a picture")
    Image.new("L", (64, 48), 255).save(masks / "b.png")
    form = Img2ImgForm(input_tab="Batch", batch_input_dir=str(src), batch_output_dir=str(out),
                       batch_mask_dir=str(masks))
    reqs = batch_requests(form, lambda **images: to_request(form, **images))
    assert len(reqs) == 2 and reqs[0].init_images[0].getpixel((0, 0)) == (1, 2, 3)
    assert reqs[0].mask is None and reqs[1].mask is not None
    assert all(r.outpath_samples == str(out) and r.save_images for r in reqs)
    with pytest.raises(InvalidRequestError, match="Batch input directory .* does not exist"):
        batch_requests(Img2ImgForm(input_tab="Batch", batch_input_dir=str(tmp_path / "nope")), to_request)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("img2img-ui")
    args = parse_args(["--data-dir", str(data), "--no-demo-model", "--no-hashing"], environ={})
    runtime = build_runtime(args)
    demo = create_blocks(runtime, tabs=[TabSpec("img2img", "img2img", build_img2img_tab)])
    components = {c["props"]["elem_id"]: c for c in demo.config["components"] if c["props"].get("elem_id")}
    yield runtime, demo, components
    runtime.shutdown()


def test_tab_has_a1111_element_ids_and_defaults(built: Any):
    _, _, c = built
    ids = ("img2img_prompt", "img2img_generate", "img2img_image", "img2img_sketch", "img2maskimg",
           "inpaint_sketch", "img_inpaint_base", "img_inpaint_mask", "img2img_batch_input_dir",
           "img2img_batch_output_dir", "img2img_resize_mode", "img2img_denoising_strength",
           "img2img_mask_blur",
           "img2img_inpainting_fill", "img2img_inpaint_full_res", "img2img_steps", "img2img_seed",
           "img2img_gallery", "img2img_script_list")
    assert [i for i in ids if i not in c] == []
    assert c["img2img_denoising_strength"]["props"]["value"] == 0.75
    assert c["img2img_inpainting_fill"]["props"]["value"] == "original"
    assert c["img2img_inpaint_full_res_padding"]["props"]["value"] == 32


def test_generate_without_a_picture_shows_the_error(built: Any):
    from modules.ui.output_panel import OutputPanel

    runtime = built[0]
    panel = OutputPanel(*[object() for _ in range(13)])
    updates = list(make_generate(runtime, panel)(None, **{"prompt": "x"}))
    assert len(updates) == 1 and "no picture in the" in updates[0][panel.html_log]


def test_batch_runs_as_one_job_so_interrupt_stops_every_picture(built: Any, tmp_path: Path, monkeypatch):
    from modules.engine.request import GenerationResult
    from modules.ui.output_panel import OutputPanel
    from modules.ui.txt2img import interrupt_job

    runtime = built[0]
    src = runtime.paths.data_dir / "batch-in"  # batch folders lie inside the data folder
    src.mkdir(exist_ok=True)
    for name in ("a", "b", "c"):
        picture().save(src / f"{name}.png")
    seen: list[str | None] = []

    def fake_generate(req, control):
        seen.append(req.task_id)
        interrupt_job(runtime, req.task_id)  # the user presses Interrupt during the first picture
        return GenerationResult([picture()], ["x"], [1], [1], ["p"], ["n"], interrupted=True)

    monkeypatch.setattr(runtime, "generate", fake_generate)
    panel = OutputPanel(*[object() for _ in range(13)])
    list(make_generate(runtime, panel)("task(img2img-BATCH01)", input_tab="Batch", batch_input_dir=str(src),
                                       prompt="x"))
    assert seen == ["task(img2img-BATCH01)"]  # pictures 2 and 3 never ran


def test_batch_folders_outside_the_data_folder_are_refused(built: Any, tmp_path: Path) -> None:
    from modules.ui.img2img import plan_requests

    runtime = built[0]
    (tmp_path / "in").mkdir()
    picture().save(tmp_path / "in" / "a.png")
    form = Img2ImgForm(input_tab="Batch", batch_input_dir=str(tmp_path / "in"))
    with pytest.raises(InvalidRequestError, match="outside the data folder.*--allowed-output-dir"):
        plan_requests(runtime, form, "task(x)")
