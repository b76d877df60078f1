"""Messages a newcomer reads: a non-image in PNG Info says "not an image", nothing speaks of
internal work, "not available" reads right for plural names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from PIL import Image


def test_png_info_says_not_an_image_for_a_text_file_named_png(tmp_path: Path) -> None:
    from gradio.data_classes import ImageData

    from modules.ui.image_file_input import image_file_input
    from modules.ui.png_info import read_image

    fake = tmp_path / "holiday.png"
    fake.write_text("this is a text file, not a picture")
    widget = image_file_input(image_mode=None)
    path = widget.preprocess(ImageData(path=str(fake), orig_name="holiday.png"))
    assert path is not None and Path(path).read_bytes() == fake.read_bytes()
    html, infotext, status = read_image(SimpleNamespace(), path)
    assert (html, infotext) == ("", "")
    assert "is not an image" in status and "PNG, JPEG or WebP" in status and "Unidentified" not in status


def test_png_info_reads_a_real_png_through_the_same_widget(tmp_path: Path) -> None:
    from gradio.data_classes import ImageData

    from modules.ui.image_file_input import image_file_input

    real = tmp_path / "real.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(real)
    path = image_file_input(image_mode=None).preprocess(ImageData(path=str(real)))
    with Image.open(path) as image:
        assert image.size == (8, 8)


def test_no_user_facing_text_speaks_of_internal_work() -> None:
    root = Path(__file__).resolve().parents[1]
    for script in ("ui.js", "hints.js"):
        text = (root / "javascript" / script).read_text(encoding="utf-8")
        assert "arrives" not in text and "issue" not in text and "later version" not in text, script


def test_not_available_reads_right_for_plural_feature_names() -> None:
    from modules.api.errors import not_available

    error = not_available("Separate VAE files", "the VAE built into each checkpoint is used")
    assert error.status_code == 501
    assert str(error) == ("Separate VAE files: not available in this version of the server; "
                          "the VAE built into each checkpoint is used")


def test_sizes_not_a_multiple_of_8_are_rounded_down_and_said() -> None:
    from modules.ui.txt2img_form import Txt2ImgForm, round_size_fields

    form, notes = round_size_fields(Txt2ImgForm(width=100, height="64"))
    assert (form.width, form.height) == (96, "64")
    assert notes == ["Width 100 was rounded down to 96: sizes are multiples of 8."]
    same, none = round_size_fields(Txt2ImgForm(width=512, height=768))
    assert (same.width, same.height, none) == (512, 768, [])


def test_inpainting_without_a_mask_says_so() -> None:
    import pytest

    from modules.engine.validation import InvalidRequestError
    from modules.ui.img2img_form import Img2ImgForm, to_request

    picture = Image.new("RGB", (64, 64), (0, 0, 200))
    empty_layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    stroke = empty_layer.copy()
    stroke.paste((255, 255, 255, 255), (10, 10, 30, 30))
    editor = {"background": picture, "layers": [empty_layer], "composite": picture}
    base = {"width": 64, "height": 64}
    for form in (Img2ImgForm(input_tab="Inpaint", init_img_with_mask=editor, **base),
                 Img2ImgForm(input_tab="Inpaint sketch", inpaint_color_sketch=editor, **base)):
        with pytest.raises(InvalidRequestError, match="No mask was drawn: paint over"):
            to_request(form)
    with pytest.raises(InvalidRequestError, match="No mask was uploaded"):
        to_request(Img2ImgForm(input_tab="Inpaint upload", init_img_inpaint=picture,
                               init_mask_inpaint=Image.new("L", (64, 64), 0), **base))
    drawn = {"background": picture, "layers": [stroke], "composite": picture}
    req = to_request(Img2ImgForm(input_tab="Inpaint", init_img_with_mask=drawn, **base))
    assert req.mask is not None and req.mask.getbbox() == (10, 10, 30, 30)


def test_send_to_inpaint_shows_the_inpaint_options_and_send_to_img2img_hides_them() -> None:
    import gradio as gr

    from modules.ui.send_to import SendTarget, send_updates

    with gr.Blocks():
        editor, image, sub_tabs, state, top = gr.ImageEditor(), gr.Image(), gr.Tabs(), gr.State(), gr.Tabs()
        controls, status = gr.Group(), gr.HTML()
    ui = SimpleNamespace(tabs=top, send_targets={
        "inpaint": SendTarget(editor, sub_tabs, "img2img_inpaint_tab", state, "Inpaint", controls),
        "img2img": SendTarget(image, sub_tabs, "img2img_img2img_tab", state, "img2img", controls)})
    picture = Image.new("RGB", (8, 8))
    assert send_updates(ui, "inpaint", picture, "", status)[controls]["visible"] is True
    assert send_updates(ui, "img2img", picture, "", status)[controls]["visible"] is False
