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
    from modules.ui.txt2img_params import HIRES_NOTE

    root = Path(__file__).resolve().parents[1]
    assert "issue" not in HIRES_NOTE and "not available" in HIRES_NOTE
    assert "arrives" not in (root / "javascript" / "ui.js").read_text(encoding="utf-8")


def test_not_available_reads_right_for_plural_feature_names() -> None:
    from modules.api.errors import not_available

    error = not_available("Separate VAE files", "the VAE built into each checkpoint is used")
    assert error.status_code == 501
    assert str(error) == ("Separate VAE files: not available in this version of the server; "
                          "the VAE built into each checkpoint is used")
