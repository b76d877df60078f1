"""Extra networks through a live server: the A1111 list routes, LoRA/VAE/hypernetwork jobs, infotext."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modules.hashing import addnet_hash_safetensors, sha256_file
from modules.infotext import parse_generation_parameters
from modules.models.sd_model import ModelFamily
from tests.engine_helpers import load_cpu_model
from tests.fixtures.tiny_models import build_tiny_components
from tests.fixtures.tiny_networks import write_lora
from tests.test_api_harness import LiveServer, decode_b64_image, start_live_server

TINY = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 11, "prompt": "a cat"}


def _hypernetwork(width: int, seed: int) -> dict[Any, Any]:
    """A1111's .pt layout: {width: [key MLP state, value MLP state]}, layer structure 1-2-1, relu."""
    g = torch.Generator().manual_seed(seed)

    def mlp() -> dict[str, torch.Tensor]:
        return {"linear.0.weight": torch.randn(2 * width, width, generator=g) * 0.5,
                "linear.0.bias": torch.zeros(2 * width),
                "linear.2.weight": torch.randn(width, 2 * width, generator=g) * 0.5,
                "linear.2.bias": torch.zeros(width)}

    return {width: [mlp(), mlp()], "layer_structure": [1, 2, 1], "activation_func": "relu",
            "is_layer_norm": False, "step": 10, "name": "hn"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("networks-api")
    ckpt_dir = data / "ckpt"
    ckpt_dir.mkdir()
    ckpt = Path(shutil.copy(tiny_sd1, ckpt_dir / "tiny.safetensors"))
    shutil.copy(tiny_sd1.with_suffix(".yaml"), ckpt_dir / "tiny.yaml")
    model = load_cpu_model(tiny_sd1)
    write_lora(data / "models" / "Lora" / "styles", "stylish", model, "lora", seed=1,
               metadata={"ss_output_name": "stylishAlias"})
    (data / "models" / "Lora" / "broken.safetensors").write_bytes(b"\x00" * 3)
    other_vae = {k: v.contiguous() for k, v in build_tiny_components(ModelFamily.SD1, seed=9).vae.state_dict().items()}
    (data / "models" / "VAE").mkdir(parents=True)
    save_file(other_vae, str(data / "models" / "VAE" / "other.safetensors"))
    save_file(other_vae, str(ckpt_dir / "tiny.vae.safetensors"))
    (data / "embeddings").mkdir()
    save_file({"emb_params": torch.randn(2, 32)}, str(data / "embeddings" / "embby.safetensors"))
    save_file({"emb_params": torch.randn(2, 768)}, str(data / "embeddings" / "wide.safetensors"))
    (data / "models" / "hypernetworks").mkdir(parents=True)
    torch.save(_hypernetwork(32, 2), data / "models" / "hypernetworks" / "hn.pt")
    server = start_live_server(data, "--nowebui", ckpt=ckpt)
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def _txt2img(client: httpx.Client, **body: Any) -> tuple[np.ndarray, dict[str, Any]]:
    response = client.post("/sdapi/v1/txt2img", json={**TINY, **body})
    assert response.status_code == 200, response.text
    data = response.json()
    return np.asarray(decode_b64_image(data["images"][0]).convert("RGB"), dtype=np.int16), data


def _params(data: dict[str, Any]) -> dict[str, Any]:
    import json

    return parse_generation_parameters(json.loads(data["info"])["infotexts"][0])


def test_list_routes_have_a1111_shapes(client: httpx.Client, live: LiveServer) -> None:
    loras = {item["name"]: item for item in client.get("/sdapi/v1/loras").json()}
    assert loras["stylish"]["alias"] == "stylishAlias"
    assert loras["stylish"]["path"].endswith("styles/stylish.safetensors")
    assert loras["stylish"]["metadata"]["ss_output_name"] == "stylishAlias"
    assert "error" in loras["broken"] and "error" not in loras["stylish"]
    assert client.get("/sdapi/v1/sd-vae").json() == [
        {"model_name": "other.safetensors", "filename": str(live.runtime.paths.vae_dirs[0] / "other.safetensors")}]
    hns = client.get("/sdapi/v1/hypernetworks").json()
    assert [h["name"] for h in hns] == ["hn"] and hns[0]["path"].endswith("hn.pt")
    _txt2img(client)  # loads the model, so embeddings are checked against it
    embs = client.get("/sdapi/v1/embeddings").json()
    assert embs["loaded"]["embby"] == {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None,
                                       "shape": 32, "vectors": 2}
    assert "wide" in embs["skipped"]


def test_refresh_routes_pick_up_new_files(client: httpx.Client, live: LiveServer) -> None:
    lora_dir = live.runtime.paths.lora_dir
    shutil.copy(lora_dir / "styles" / "stylish.safetensors", lora_dir / "copied.safetensors")
    assert "copied" not in [x["name"] for x in client.get("/sdapi/v1/loras").json()]
    assert client.post("/sdapi/v1/refresh-loras").json() is None
    assert "copied" in [x["name"] for x in client.get("/sdapi/v1/loras").json()]
    for route in ("refresh-vae", "refresh-embeddings"):
        assert client.post(f"/sdapi/v1/{route}").status_code == 200


def test_lora_job_hashes_and_weights_unchanged(client: httpx.Client, live: LiveServer) -> None:
    base, _ = _txt2img(client)
    model = live.runtime.models.current
    before = {k: v.clone() for k, v in model.unet.state_dict().items()}
    styled, data = _txt2img(client, prompt="a cat <lora:stylishAlias:1>")
    assert np.abs(styled - base).mean() > 1.0
    lora_file = live.runtime.paths.lora_dir / "styles" / "stylish.safetensors"
    assert _params(data)["Lora hashes"] == f"stylishAlias: {addnet_hash_safetensors(lora_file)[:12]}"
    assert all(torch.equal(v, model.unet.state_dict()[k]) for k, v in before.items())
    same, _ = _txt2img(client)
    assert np.array_equal(same, base)


def test_vae_choices_change_the_decode_and_the_infotext(client: httpx.Client, live: LiveServer) -> None:
    own, data_own = _txt2img(client, override_settings={"sd_vae": "None"})
    assert "VAE" not in _params(data_own)
    other, data_other = _txt2img(client, override_settings={"sd_vae": "other.safetensors"})
    params = _params(data_other)
    vae_file = live.runtime.paths.vae_dirs[0] / "other.safetensors"
    assert params["VAE"] == "other.safetensors" and params["VAE hash"] == sha256_file(vae_file)[:10]
    assert np.abs(other - own).mean() > 1.0
    auto, data_auto = _txt2img(client, override_settings={"sd_vae": "Automatic"})
    assert _params(data_auto)["VAE"] == "tiny.vae.safetensors"
    assert np.array_equal(auto, other)  # the same weights beside the checkpoint
    again, _ = _txt2img(client, override_settings={"sd_vae": "None"})
    assert np.array_equal(again, own)  # switching back needs no reload and gives the same pixels
    bad = client.post("/sdapi/v1/txt2img", json={**TINY, "override_settings": {"sd_vae": "nope.pt"}})
    assert bad.status_code == 422 and "nope.pt" in bad.text


def test_hypernetwork_zero_is_identity_and_one_changes(client: httpx.Client) -> None:
    base, _ = _txt2img(client, override_settings={"sd_vae": "None"})
    zero, _ = _txt2img(client, prompt="a cat <hypernet:hn:0>", override_settings={"sd_vae": "None"})
    one, data = _txt2img(client, prompt="a cat <hypernet:hn:1>", override_settings={"sd_vae": "None"})
    assert np.array_equal(zero, base) and np.abs(one - base).mean() > 1.0
    missing = client.post("/sdapi/v1/txt2img", json={**TINY, "prompt": "x <hypernet:nothere:1>"}).json()
    assert "Hypernetwork not found: nothere" in missing["info"]
