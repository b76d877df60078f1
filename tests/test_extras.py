"""Extras: resize by / to (with and without crop), two upscalers blended by visibility, saving
with infotext, batch-from-directory folders confined, and the two API routes."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.extras.folders import confined_folder, images_in
from modules.extras.params import ExtrasInputError, ExtrasParams
from modules.extras.process import upscale_for_extras
from modules.extras.run import ExtrasInput, run_extras
from modules.upscalers.catalog import UpscalerCatalog
from tests.fixtures.tiny_upscalers import write_tiny_esrgan
from tests.test_api_harness import LiveServer, placeholder_checkpoint, start_live_server


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> UpscalerCatalog:
    root = tmp_path_factory.mktemp("extras-models")
    write_tiny_esrgan(root / "ESRGAN" / "4x-tiny.safetensors")
    return UpscalerCatalog({"ESRGAN": root / "ESRGAN"})


def _image(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_resize_by_multiplies_both_sides(catalog: UpscalerCatalog) -> None:
    out = upscale_for_extras(_image(20, 12), ExtrasParams(upscaling_resize=2.5, upscaler_1="Lanczos"), catalog)
    assert out.image.size == (50, 30)
    assert out.infotext == "Postprocess upscale by: 2.5, Postprocess upscaler: Lanczos"


def test_resize_to_with_crop_is_exact_and_without_crop_keeps_the_aspect(catalog: UpscalerCatalog) -> None:
    p = ExtrasParams(resize_mode=1, upscaling_resize_w=40, upscaling_resize_h=40, upscaler_1="4x-tiny")
    out = upscale_for_extras(_image(20, 10), p, catalog)
    assert out.image.size == (40, 40) and "Postprocess crop to: 40x40" in out.infotext
    loose = upscale_for_extras(_image(20, 10), ExtrasParams(**{**p.__dict__, "upscaling_crop": False}), catalog)
    assert loose.image.size == (80, 40) and "Postprocess upscale to: 40x40" in loose.infotext


def test_second_upscaler_is_blended_by_its_visibility(catalog: UpscalerCatalog) -> None:
    image = _image(16, 16)
    only = {n: np.asarray(upscale_for_extras(image, ExtrasParams(upscaler_1=n), catalog).image, dtype=np.float32)
            for n in ("Nearest", "4x-tiny")}
    mixed = upscale_for_extras(image, ExtrasParams(upscaler_1="Nearest", upscaler_2="4x-tiny",
                                                   extras_upscaler_2_visibility=0.25), catalog)
    expected = only["Nearest"] * 0.75 + only["4x-tiny"] * 0.25
    assert np.abs(np.asarray(mixed.image, dtype=np.float32) - expected).max() <= 1.0
    assert "Postprocess upscaler 2: 4x-tiny, Postprocess upscaler 2 visibility: 0.25" in mixed.infotext


def test_upscaler_none_leaves_the_picture_alone(catalog: UpscalerCatalog) -> None:
    image = _image(8, 8)
    out = upscale_for_extras(image, ExtrasParams(upscaler_1="None"), catalog)
    assert out.image is image and out.infotext == ""


@pytest.mark.parametrize("params, needle", [
    (ExtrasParams(upscaling_resize=0), "upscaling_resize"),
    (ExtrasParams(upscaling_resize=100), "at most 8"),
    (ExtrasParams(resize_mode=1, upscaling_resize_w=0), "upscaling_resize_w"),
    (ExtrasParams(extras_upscaler_2_visibility=2), "visibility"),
    (ExtrasParams(gfpgan_visibility=2), "gfpgan_visibility must be between 0 and 1"),
])
def test_bad_parameters_name_the_field(params: ExtrasParams, needle: str) -> None:
    with pytest.raises(ExtrasInputError, match=needle):
        params.validate()


def test_saved_results_keep_the_generation_parameters_and_add_postprocessing(catalog: UpscalerCatalog,
                                                                          tmp_path: Path) -> None:
    image = _image(8, 8)
    image.info["parameters"] = "a cat\nSteps: 20, Seed: 1"
    settings = {"samples_format": "png", "enable_pnginfo": True}
    result = run_extras([ExtrasInput(image, "source")], ExtrasParams(upscaler_1="Lanczos"), catalog, settings,
                        save_to=tmp_path / "out")
    saved = Image.open(result.saved[0])
    assert Path(result.saved[0]).name == "source.png" and saved.size == (16, 16)
    assert saved.info["parameters"] == "a cat\nSteps: 20, Seed: 1"
    assert saved.info["postprocessing"] == "Postprocess upscale by: 2, Postprocess upscaler: Lanczos"


def test_batch_folders_must_stay_inside_the_allowed_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    _image(4, 4).save(data / "in" / "a.png")
    (data / "in" / "notes.txt").write_text("x")
    inside = confined_folder("in", data, [], "input folder", "--gradio-allowed-path")
    assert [p.name for p in images_in(inside)] == ["a.png"]
    for bad in ("../", "/etc", "in/../../elsewhere"):
        with pytest.raises(ExtrasInputError, match="outside the data folder"):
            confined_folder(bad, data, [], "input folder", "--gradio-allowed-path")
    assert confined_folder(str(tmp_path / "extra"), data, [tmp_path / "extra"], "x", "--f") == tmp_path / "extra"


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("extras-api")
    write_tiny_esrgan(data / "models" / "ESRGAN" / "4x-tiny.safetensors")
    server = start_live_server(data, "--nowebui", "--no-hashing", ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


def _b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _decode(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_extra_single_image_over_http(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/sdapi/v1/extra-single-image", json={
            "image": _b64(_image(12, 10)), "upscaler_1": "4x-tiny", "upscaling_resize": 2})
    assert r.status_code == 200, r.text
    assert _decode(r.json()["image"]).size == (24, 20)
    assert r.json()["html_info"] == "Postprocess upscale by: 2, Postprocess upscaler: 4x-tiny"


def test_extra_batch_images_over_http(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/sdapi/v1/extra-batch-images", json={
            "imageList": [{"data": _b64(_image(8, 8, s)), "name": f"{s}.png"} for s in range(3)],
            "resize_mode": 1, "upscaling_resize_w": 20, "upscaling_resize_h": 12, "upscaler_1": "Lanczos"})
    assert r.status_code == 200, r.text
    assert [_decode(i).size for i in r.json()["images"]] == [(20, 12)] * 3


def test_unknown_upscaler_or_no_image_is_a_4xx_and_the_server_keeps_serving(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/sdapi/v1/extra-single-image", json={"image": _b64(_image(8, 8)), "upscaler_1": "4x-nope"})
        assert r.status_code == 422 and "4x-nope" in r.json()["detail"] and "4x-tiny" in r.json()["detail"]
        r = c.post("/sdapi/v1/extra-single-image", json={"upscaler_1": "Lanczos"})
        assert r.status_code == 422 and "no picture" in r.json()["detail"]
        r = c.post("/sdapi/v1/extra-single-image", json={"image": _b64(_image(8, 8)), "upscaling_resize": 0,
                                                          "upscaler_1": "Lanczos"})
        assert r.status_code == 422 and "upscaling_resize" in r.json()["detail"]
        assert c.get("/sdapi/v1/upscalers").status_code == 200
