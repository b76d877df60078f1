"""`/controlnet/detect`'s `controlnet_masks` and `low_vram`, and `inpaint_only` outside an inpaint
job, through the API of a live server."""

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

from modules.controlnet.preprocessors.annotators import AnnotatorStore
from modules.models.sd_model import ModelFamily
from tests.fixtures.tiny_controlnets import build_tiny_controlnet, write_lllyasviel
from tests.test_api_harness import LiveServer, assert_error_shape, decode_b64_image, start_live_server
from tests.test_controlnet_annotators import _FakeBody

TINY = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 3, "prompt": "a red circle"}


def _b64(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _photo(h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _mask(h: int = 48, w: int = 64) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[10:30, 20:40] = 255
    return mask


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    models = tmp_path_factory.mktemp("cn-models")
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SD1), models / "control_tiny_canny.pth")
    server = start_live_server(tmp_path_factory.mktemp("cn-detect"), "--nowebui", "--controlnet-dir", str(models),
                               ckpt=tiny_sd1)
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def test_inpaint_detect_uses_the_masks(client: httpx.Client) -> None:
    photo, mask = _photo(), _mask()
    body = {"controlnet_module": "inpaint_global_harmonious", "controlnet_input_images": [_b64(photo)],
            "controlnet_masks": [_b64(np.stack([mask] * 3, axis=2))]}
    answer = client.post("/controlnet/detect", json=body)
    assert answer.status_code == 200, answer.text
    shown = np.asarray(decode_b64_image(answer.json()["images"][0]))
    assert shown.shape == (48, 64, 4)  # the picture with the area to repaint half transparent
    assert np.array_equal(shown[:, :, :3], photo)
    assert set(np.unique(shown[:, :, 3][mask == 255])) == {128} and (shown[:, :, 3][mask == 0] == 255).all()
    small_mask = Image.fromarray(mask).resize((32, 24), Image.NEAREST)  # another size is fitted to the image
    buf = io.BytesIO()
    small_mask.save(buf, "PNG")
    resized = client.post("/controlnet/detect", json={**body, "controlnet_masks": [
        base64.b64encode(buf.getvalue()).decode()]}).json()
    assert np.array_equal(np.asarray(decode_b64_image(resized["images"][0]))[:, :, 3], shown[:, :, 3])


def test_inpaint_detect_without_masks_is_a_422_and_other_modules_ignore_them(client: httpx.Client) -> None:
    no_mask = {"controlnet_module": "inpaint", "controlnet_input_images": [_b64(_photo())]}
    assert_error_shape(client.post("/controlnet/detect", json=no_mask), 422, "requires `controlnet_masks`")
    bad = {**no_mask, "controlnet_masks": ["not an image"]}
    assert_error_shape(client.post("/controlnet/detect", json=bad), 422, "controlnet_masks[0]")
    canny = {"controlnet_module": "canny", "controlnet_input_images": [_b64(_photo())]}
    plain = client.post("/controlnet/detect", json=canny).json()["images"]
    masked = client.post("/controlnet/detect", json={**canny, "controlnet_masks": [_b64(_mask())]}).json()["images"]
    assert plain == masked


def test_low_vram_releases_the_annotator_after_detect(client: httpx.Client, live: LiveServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from controlnet_aux.open_pose import OpenposeDetector

    built: list[Any] = []

    def build(annotator: Any, paths: list[Path]) -> Any:
        built.append(paths)
        return OpenposeDetector(_FakeBody(), None, None)

    monkeypatch.setattr(AnnotatorStore, "_build", staticmethod(build))
    folder = live.runtime.controlnet.preprocessors.annotators.folder / "openpose"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "body_pose_model.pth").write_bytes(b"read by the fake builder only")
    live.runtime.controlnet.unload_annotators()
    body = {"controlnet_module": "openpose", "controlnet_processor_res": 64,
            "controlnet_input_images": [_b64(_photo())]}
    counts = []
    for low_vram in (False, False, True, False):
        answer = client.post("/controlnet/detect", json={**body, "low_vram": low_vram})
        assert answer.status_code == 200, answer.text
        counts.append(len(built))
    assert counts == [1, 1, 1, 2]  # kept between calls; after a Low VRAM call it is loaded again


def _generate(client: httpx.Client, unit: dict[str, Any], route: str = "txt2img", **extra: Any) -> Any:
    response = client.post(f"/sdapi/v1/{route}", json={**TINY, **extra,
                                                      "alwayson_scripts": {"controlnet": {"args": [unit]}}})
    assert response.status_code == 200, response.text
    return response.json()


def _pixels(b64: str) -> np.ndarray:
    return np.asarray(decode_b64_image(b64).convert("RGB"), dtype=int)


def test_inpaint_only_outside_an_inpaint_job_pastes_the_unit_picture_back(client: httpx.Client) -> None:
    from modules.controlnet.inpaint_only import paste_weight
    from modules.infotext import parse_generation_parameters

    photo, mask = _photo(64, 64), np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 255
    unit = {"enabled": True, "module": "inpaint_only", "model": "control_tiny_canny", "image": _b64(photo),
            "mask": _b64(mask)}
    only = _generate(client, unit)
    harmonious = _generate(client, {**unit, "module": "inpaint_global_harmonious"})
    weight = paste_weight(mask, 7)
    kept, new = weight == 0, weight == 1
    assert kept.sum() > 2000 and new.sum() > 300
    picture = _pixels(only["images"][0])
    assert np.array_equal(picture[kept], photo[kept])  # outside the grown mask: the unit's picture
    assert np.array_equal(picture[new], _pixels(harmonious["images"][0])[new])  # inside: what was generated
    assert np.abs(picture[new] - photo[new]).mean() > 20
    between = (weight > 0) & (weight < 1)  # the soft border blends the two
    assert not np.array_equal(picture[between], photo[between])
    info = decode_b64_image(only["images"][0]).info["parameters"]
    assert parse_generation_parameters(info)["ControlNet 0"].startswith("Module: inpaint_only,")
    wider = _generate(client, unit, override_settings={"control_net_inpaint_blur_sigma": 15})
    assert not np.array_equal(_pixels(wider["images"][0]), picture)  # the setting widens the border
    plain_img2img = _generate(client, unit, route="img2img", init_images=[_b64(_photo(64, 64))],
                              denoising_strength=0.9)  # img2img without a mask: the same paste-back
    assert np.array_equal(_pixels(plain_img2img["images"][0])[kept], photo[kept])
