"""The upscaler lists over HTTP: what is installed, with scale; broken files with their reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.tiny_upscalers import write_tiny_esrgan
from tests.test_api_harness import LiveServer, placeholder_checkpoint, start_live_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("upscaler-api")
    write_tiny_esrgan(data / "models" / "ESRGAN" / "4x-tiny.safetensors")
    write_tiny_esrgan(data / "models" / "RealESRGAN" / "RealESRGAN_x2plus.pth", scale=2)
    (data / "models" / "ESRGAN" / "broken.safetensors").write_bytes(b"\x00" * 16)
    server = start_live_server(data, "--nowebui", "--no-hashing", ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


def test_upscalers_lists_builtins_and_installed_models(live: LiveServer) -> None:
    with live.client() as c:
        items = c.get("/sdapi/v1/upscalers").json()
    by_name = {i["name"]: i for i in items}
    assert list(by_name)[:3] == ["None", "Lanczos", "Nearest"] and by_name["None"]["model_name"] is None
    tiny = by_name["4x-tiny"]
    assert tiny["scale"] == 4 and tiny["model_name"] == "ESRGAN" and tiny["model_path"].endswith("4x-tiny.safetensors")
    assert tiny["error"] is None and tiny["model_url"] is None
    assert by_name["R-ESRGAN 2x+"]["scale"] == 2
    assert "could not be read" in by_name["broken"]["error"]


def test_latent_modes_realesrgan_and_face_restorers(live: LiveServer) -> None:
    with live.client() as c:
        modes = [m["name"] for m in c.get("/sdapi/v1/latent-upscale-modes").json()]
        real = c.get("/sdapi/v1/realesrgan-models").json()
        faces = c.get("/sdapi/v1/face-restorers")
    assert modes == ["Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                     "Latent (nearest)", "Latent (nearest-exact)"]
    assert [(r["name"], r["scale"]) for r in real] == [("R-ESRGAN 2x+", 2.0)]
    assert Path(real[0]["path"]).name == "RealESRGAN_x2plus.pth"
    assert faces.status_code == 200 and faces.json() == []  # no face model installed


def test_face_restorers_lists_an_installed_model(live: LiveServer) -> None:
    from tests.fixtures.tiny_faces import write_tiny_restoreformer

    folder = live.runtime.paths.models_dir / "GFPGAN"
    write_tiny_restoreformer(folder / "tiny.safetensors")
    with live.client() as c:
        assert c.get("/sdapi/v1/face-restorers").json() == [{"name": "GFPGAN", "cmd_dir": str(folder)}]
        r = c.post("/sdapi/v1/extra-single-image", json={"image": _tiny_png(), "gfpgan_visibility": 1})
    assert r.status_code == 422 and "no face detector" in r.json()["detail"] and "face_detection" in r.json()["detail"]
    (folder / "tiny.safetensors").unlink()


def _tiny_png() -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_a_model_added_later_appears_without_restart(live: LiveServer) -> None:
    write_tiny_esrgan(live.runtime.paths.models_dir / "DAT" / "late.safetensors")
    with live.client() as c:
        names = [i["name"] for i in c.get("/sdapi/v1/upscalers").json()]
    assert "late" in names
