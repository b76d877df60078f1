"""The interrogation routes on a live server with tiny models in <data>/models/CLIP and models/BLIP."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.fixtures.tiny_deepbooru import write_tiny_deepbooru
from tests.fixtures.tiny_interrogate import short_term_lists, write_tiny_blip, write_tiny_clip
from tests.test_api_harness import LiveServer, assert_error_shape, placeholder_checkpoint, start_live_server

CLIP = "tiny-vit/random"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("interrogate-api")
    write_tiny_clip(data / "models" / "CLIP")
    write_tiny_blip(data / "models" / "BLIP" / "tiny-blip")
    write_tiny_deepbooru(data / "models" / "torch_deepdanbooru")
    server = start_live_server(data, "--nowebui", "--no-hashing", ckpt=placeholder_checkpoint(data))
    server.runtime.interrogator.term_lists = short_term_lists(data / "lists")
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def png_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (220, 30, 30)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_models_lists_installed_clip_models(client: httpx.Client) -> None:
    assert client.get("/interrogator/models").json() == [CLIP]


@pytest.mark.parametrize("mode", ["best", "fast", "classic", "negative", "caption"])
def test_prompt_in_every_mode(client: httpx.Client, mode: str) -> None:
    r = client.post("/interrogator/prompt", json={"image": png_b64(), "clip_model_name": CLIP, "mode": mode})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["prompt"] and isinstance(body["prompt"], str) and body["prompt"]


def test_prompt_accepts_caption_model_and_data_uri(client: httpx.Client) -> None:
    r = client.post("/interrogator/prompt", json={"image": "data:image/png;base64," + png_b64(),
                                                  "clip_model_name": CLIP, "mode": "caption",
                                                  "caption_model_name": "tiny-blip"})
    assert r.status_code == 200 and r.json()["prompt"]


def test_analyze_shape_with_labels(client: httpx.Client) -> None:
    r = client.post("/interrogator/analyze", json={"image": png_b64(), "clip_model_name": CLIP,
                                                   "labels": ["red", "blue"]})
    body = r.json()
    assert list(body) == ["medium", "artist", "movement", "trending", "flavor", "labels"]
    assert all(len(body[k]) == 5 for k in ("medium", "artist", "movement", "trending", "flavor"))
    assert set(body["labels"]) == {"red", "blue"} and all(isinstance(v, float) for v in body["labels"].values())
    plain = client.post("/interrogator/analyze", json={"image": png_b64(), "clip_model_name": CLIP}).json()
    assert "labels" not in plain


def test_a1111_interrogate_returns_a_caption(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "clip"})
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["caption"] and r.json()["caption"]


@pytest.mark.parametrize(("path", "body", "status", "needles"), [
    ("/interrogator/prompt", {"image": "%%%", "clip_model_name": CLIP, "mode": "fast"}, 400, ["base64"]),
    ("/interrogator/prompt", {"image": "aGVsbG8gd29ybGQ=", "clip_model_name": CLIP}, 400, ["not an image"]),
    ("/interrogator/prompt", {"image": "PNG", "clip_model_name": CLIP, "mode": "poem"}, 422,
     ["poem", "best, fast, classic, negative, caption"]),
    ("/interrogator/prompt", {"image": "PNG", "clip_model_name": "ViT-L-14/openai", "mode": "fast"}, 404,
     ["ViT-L-14/openai", "Installed: tiny-vit/random", "CLIP"]),
    ("/interrogator/prompt", {"image": "PNG", "clip_model_name": CLIP, "mode": "fast",
                              "caption_model_name": "blip-large"}, 404, ["blip-large", "tiny-blip"]),
    ("/interrogator/analyze", {"image": "", "clip_model_name": CLIP}, 400, ["empty"]),
    ("/interrogator/analyze", {"image": "PNG", "clip_model_name": "nope/x"}, 404, ["nope/x", CLIP]),
    ("/sdapi/v1/interrogate", {"image": "PNG", "model": "wd14"}, 422, ["wd14", "clip"]),
    ("/sdapi/v1/interrogate", {"image": "%%%", "model": "deepdanbooru"}, 400, ["base64"]),
])
def test_bad_requests_name_the_problem(client: httpx.Client, path: str, body: dict, status: int,
                                       needles: list[str]) -> None:
    if body.get("image") == "PNG":
        body = {**body, "image": png_b64()}
    assert_error_shape(client.post(path, json=body), status, *needles)
    assert client.get("/interrogator/models").status_code == 200


def test_a1111_interrogate_deepdanbooru_returns_tags_with_the_settings(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "deepdanbooru"})
    assert r.status_code == 200, r.text
    assert r.json() == {"caption": r"1girl, back\\slash, blue sky, hat \(object\), long hair, smile"}
    options = client.get("/sdapi/v1/options").json()
    assert options["interrogate_deepbooru_score_threshold"] == 0.5 and options["deepbooru_sort_alpha"] is True
    try:
        assert client.post("/sdapi/v1/options", json={"interrogate_deepbooru_score_threshold": 0.7,
                                                      "deepbooru_sort_alpha": False, "deepbooru_use_spaces": False,
                                                      "deepbooru_filter_tags": "smile"}).status_code == 200
        r = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "deepdanbooru"})
        assert r.json() == {"caption": r"1girl, back\\slash, long_hair"}
    finally:
        client.post("/sdapi/v1/options", json={"interrogate_deepbooru_score_threshold": 0.5,
                                               "deepbooru_sort_alpha": True, "deepbooru_use_spaces": True,
                                               "deepbooru_filter_tags": ""})


def test_a1111_interrogate_deepdanbooru_without_the_model_says_what_to_install(live: LiveServer,
                                                                               client: httpx.Client) -> None:
    folder = live.runtime.paths.models_dir / "torch_deepdanbooru"
    moved = folder.with_name("torch_deepdanbooru-away")
    folder.rename(moved)
    try:
        r = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "deepdanbooru"})
        assert_error_shape(r, 404, "model-resnet_custom_v3.pt", "models/torch_deepdanbooru")
    finally:
        moved.rename(folder)
    assert client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "deepdanbooru"}).status_code == 200
