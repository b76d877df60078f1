"""The sd-webui-controlnet API on a live server with a tiny SD1 checkpoint and tiny ControlNets."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from modules.controlnet.infotext import units_from_infotext
from modules.controlnet.unit import parse_unit
from modules.infotext import parse_generation_parameters
from modules.models.sd_model import ModelFamily
from tests.fixtures.tiny_controlnets import build_tiny_controlnet, write_lllyasviel
from tests.test_api_harness import LiveServer, assert_error_shape, decode_b64_image, start_live_server

TINY = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 3, "prompt": "a red circle"}


def _square_b64(size: int = 64) -> str:
    image = np.zeros((size, size, 3), np.uint8)
    image[16:48, 16:48] = 255
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    models = tmp_path_factory.mktemp("cn-models")
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SD1), models / "control_tiny_canny.pth")
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SDXL), models / "control_tiny_xl.safetensors")
    server = start_live_server(tmp_path_factory.mktemp("cn-api"), "--nowebui", "--controlnet-dir", str(models),
                               ckpt=tiny_sd1)
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def _model(client: httpx.Client, stem: str) -> str:
    return next(m for m in client.get("/controlnet/model_list").json()["model_list"] if m.startswith(stem))


def test_lists_and_settings(client: httpx.Client) -> None:
    assert client.get("/controlnet/version").json() == {"version": 3}
    models = client.get("/controlnet/model_list", params={"update": True}).json()["model_list"]
    assert models[0] == "None" and any(m.startswith("control_tiny_canny [") and len(m.split("[")[1]) == 9
                                       for m in models)
    modules = client.get("/controlnet/module_list").json()
    assert {"none", "canny", "invert", "lineart_standard"} <= set(modules["module_list"])
    assert modules["module_detail"]["canny"]["model_free"] is True
    assert [s["name"] for s in modules["module_detail"]["canny"]["sliders"]][1:] == [
        "Canny Low Threshold", "Canny High Threshold"]
    aliases = client.get("/controlnet/module_list", params={"alias_names": True}).json()["module_list"]
    assert "invert (from white bg & black line)" in aliases and "softedge_hed" in aliases
    types = client.get("/controlnet/control_types").json()["control_types"]
    assert types["Canny"]["default_option"] == "canny" and types["Canny"]["model_list"][1].startswith(
        "control_tiny_canny")
    assert client.get("/controlnet/settings").json() == {"control_net_unit_count": 3}


def test_detect_canny_and_its_errors(client: httpx.Client) -> None:
    response = client.post("/controlnet/detect", json={"controlnet_module": "canny",
                                                      "controlnet_input_images": [_square_b64()],
                                                      "controlnet_processor_res": 64})
    assert response.status_code == 200, response.text
    edges = np.asarray(decode_b64_image(response.json()["images"][0]).convert("L"))
    assert edges.shape == (64, 64) and edges[14:18, 20:44].max() == 255 and edges[24:40, 24:40].max() == 0
    assert_error_shape(client.post("/controlnet/detect", json={"controlnet_module": "nope",
                                                              "controlnet_input_images": [_square_b64()]}),
                       422, "Module not available")
    assert_error_shape(client.post("/controlnet/detect", json={"controlnet_module": "canny"}), 422, "No image")
    assert_error_shape(client.post("/controlnet/detect", json={"controlnet_module": "canny",
                                                              "controlnet_input_images": ["bm90IGFuIGltYWdl"]}),
                       422, "controlnet_input_images[0]")
    assert_error_shape(client.post("/controlnet/detect", json={"controlnet_module": "softedge_hed",
                                                              "controlnet_input_images": [_square_b64()]}),
                       422, "ControlNetHED.pth", "annotator")


def _txt2img(client: httpx.Client, unit: dict[str, Any]) -> httpx.Response:
    return client.post("/sdapi/v1/txt2img", json={**TINY, "alwayson_scripts": {"controlnet": {"args": [unit]}}})


def test_txt2img_unit_round_trips_through_the_infotext(client: httpx.Client) -> None:
    unit = {"enabled": True, "module": "canny", "model": _model(client, "control_tiny_canny"), "weight": 0.9,
            "input_image": _square_b64(), "processor_res": 64, "threshold_a": 50, "threshold_b": 150,
            "guidance_start": 0.0, "guidance": 0.8, "control_mode": "My prompt is more important",
            "resize_mode": 0, "lowvram": False, "pixel_perfect": False}
    response = _txt2img(client, unit)
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    assert len(images) == 2  # the picture, then the detected map
    picture = decode_b64_image(images[0])
    params = parse_generation_parameters(picture.info["parameters"])
    pasted = parse_unit(units_from_infotext(params)[0])
    sent = parse_unit({**unit, "input_image": None})
    assert pasted == sent
    plain = client.post("/sdapi/v1/txt2img", json=TINY).json()["images"][0]
    assert np.abs(np.asarray(picture, np.int16) - np.asarray(decode_b64_image(plain), np.int16)).mean() > 1.0


@pytest.mark.parametrize(("unit", "needles"), [
    ({"model": "no_such_model"}, ("unit 0 'model'", "no_such_model")),
    ({"module": "no_such_module"}, ("module", "no_such_module")),
    ({"weight": 3}, ("weight",)),
    ({"image": "bm90IGFuIGltYWdl"}, ("image", "not an image")),
    ({"image": None}, ("'image' is missing",)),
    ({"effective_region_mask": "bm90IGFuIGltYWdl"}, ("effective_region_mask", "not an image")),
    ({"mask_image": 7}, ("mask", "base64 image")),
])
def test_bad_units_are_422_naming_the_problem(client: httpx.Client, unit: dict[str, Any], needles) -> None:
    base = {"enabled": True, "module": "none", "model": "control_tiny_canny", "image": _square_b64()}
    assert_error_shape(_txt2img(client, {**base, **unit}), 422, *needles)


def test_wrong_family_is_a_clear_422(client: httpx.Client) -> None:
    response = _txt2img(client, {"enabled": True, "model": "control_tiny_xl", "image": _square_b64()})
    assert_error_shape(response, 422, "control_tiny_xl", "SDXL", "SD1.x")
    assert client.post("/sdapi/v1/txt2img", json=TINY).status_code == 200  # the server keeps serving


def test_img2img_unit_without_image_uses_the_init_image(client: httpx.Client) -> None:
    body = {**TINY, "init_images": [_square_b64()], "denoising_strength": 0.8,
            "alwayson_scripts": {"controlnet": {"args": [{"enabled": True, "module": "invert",
                                                          "model": "control_tiny_canny"}]}}}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    inverted = np.asarray(decode_b64_image(images[1]).convert("L"))  # the init image's map, fitted to 64 px
    assert inverted.shape == (64, 64) and inverted[0, 0] == 255 and inverted[32, 32] == 0
    assert "controlnet" in client.get("/sdapi/v1/scripts").json()["txt2img"]


def test_hires_fix_with_a_unit_and_its_hr_option(client: httpx.Client) -> None:
    hires = {"enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent", "denoising_strength": 0.6,
             "hr_second_pass_steps": 2}
    pictures = {}
    for option in ("Both", "Low res only", "High res only"):
        unit = {"enabled": True, "module": "none", "model": "control_tiny_canny", "image": _square_b64(),
                "hr_option": option}
        body = {**TINY, **hires, "alwayson_scripts": {"controlnet": {"args": [unit]}}}
        response = client.post("/sdapi/v1/txt2img", json=body)
        assert response.status_code == 200, response.text
        picture = decode_b64_image(response.json()["images"][0])
        assert picture.size == (128, 128)
        params = parse_generation_parameters(picture.info["parameters"])
        assert "Hires upscale" in params and "ControlNet 0" in params
        pictures[option] = np.asarray(picture, np.int16)
    differ = lambda a, b: np.abs(pictures[a] - pictures[b]).mean() > 0.5  # noqa: E731
    assert differ("Both", "Low res only")  # the hires pass saw the unit or not
    assert differ("Both", "High res only") and differ("Low res only", "High res only")  # the first pass: or not


def test_detected_maps_follow_the_images_unless_told_not_to(client: httpx.Client) -> None:
    unit = {"enabled": True, "module": "canny", "model": "control_tiny_canny", "image": _square_b64(128)}
    images = _txt2img(client, unit).json()["images"]
    assert len(images) == 2
    edges = np.asarray(decode_b64_image(images[1]).convert("L"))
    assert edges.shape == (64, 64) and edges.max() > 30 and edges[32, 32] == 0  # fitted to the picture
    assert "parameters" in decode_b64_image(images[0]).info  # the picture comes first, with its infotext
    assert len(_txt2img(client, {**unit, "save_detected_map": False}).json()["images"]) == 1
    body = {**TINY, "override_settings": {"control_net_no_detectmap": True},
            "alwayson_scripts": {"controlnet": {"args": [unit]}}}
    assert len(client.post("/sdapi/v1/txt2img", json=body).json()["images"]) == 1
    hires = {**TINY, "enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent", "denoising_strength": 0.6,
             "hr_second_pass_steps": 1,
             "alwayson_scripts": {"controlnet": {"args": [unit, {**unit, "module": "none"}]}}}
    images = client.post("/sdapi/v1/txt2img", json=hires).json()["images"]
    assert [decode_b64_image(i).size for i in images] == [(128, 128)] * 3  # the picture, then both maps at hires size


def test_low_vram_unit_gives_the_same_picture(client: httpx.Client) -> None:
    unit = {"enabled": True, "module": "none", "model": "control_tiny_canny", "image": _square_b64()}
    normal = _txt2img(client, unit).json()["images"][0]
    low = _txt2img(client, {**unit, "low_vram": True}).json()["images"][0]
    assert np.array_equal(np.asarray(decode_b64_image(normal)), np.asarray(decode_b64_image(low)))


def test_inpaint_only_in_an_inpaint_job_is_the_inpaint_unit(client: httpx.Client) -> None:
    unit = {"enabled": True, "module": "inpaint_only", "model": "control_tiny_canny"}
    body = {**TINY, "init_images": [_square_b64()], "mask": _square_b64(), "denoising_strength": 0.8,
            "alwayson_scripts": {"controlnet": {"args": [unit]}}}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    picture = decode_b64_image(response.json()["images"][0])
    assert parse_generation_parameters(picture.info["parameters"])["ControlNet 0"].startswith("Module: inpaint,")
    no_mask = {key: value for key, value in body.items() if key != "mask"}
    outside = client.post("/sdapi/v1/img2img", json=no_mask)  # no inpaint job: it stays inpaint_only
    assert outside.status_code == 200, outside.text
    outside_info = decode_b64_image(outside.json()["images"][0]).info["parameters"]
    assert parse_generation_parameters(outside_info)["ControlNet 0"].startswith("Module: inpaint_only,")
