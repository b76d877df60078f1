"""Face restoration with a tiny RestoreFormer the test writes (spandrel detects it as a face model):
listing, loading, missing files named, alignment and feathered paste-back that leaves pixels away
from the faces unchanged, and Extras' GFPGAN visibility."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.extras.params import ExtrasParams
from modules.extras.process import run_extras_steps
from modules.face_restoration.models import FaceModels, FaceRestorationError
from modules.face_restoration.paste import FACE_TEMPLATE, descriptor_restore, paste_faces
from modules.face_restoration.run import restore_faces
from modules.upscalers.catalog import UpscalerCatalog
from tests.fixtures.tiny_faces import write_tiny_restoreformer
from tests.fixtures.tiny_upscalers import write_tiny_esrgan


class FixedFaces:
    """A detector that reports one face at a known place (the template shrunk to 1/4, moved)."""

    def __init__(self, offset: tuple[float, float] = (20.0, 30.0), scale: float = 0.25) -> None:
        self.points = FACE_TEMPLATE * scale + np.array(offset, dtype=np.float32)

    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        return [self.points]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> FaceModels:
    root = tmp_path_factory.mktemp("face-models")
    write_tiny_restoreformer(root / "GFPGAN" / "tiny-restoreformer.safetensors")
    return FaceModels({"CodeFormer": root / "Codeformer", "GFPGAN": root / "GFPGAN"}, root / "face_detection")


def _picture(size: int = 200) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def test_installed_restorers_and_missing_files_are_named(models: FaceModels, tmp_path: Path) -> None:
    assert models.installed() == [{"name": "GFPGAN", "cmd_dir": str(models.folders["GFPGAN"])}]
    with pytest.raises(FaceRestorationError, match="no CodeFormer model: put a CodeFormer"):
        models.load_restorer("CodeFormer")
    with pytest.raises(FaceRestorationError, match="no face detector: put OpenCV's YuNet model"):
        models.detector_file()
    write_tiny_esrgan(tmp_path / "GFPGAN" / "not-a-face.safetensors")
    wrong = FaceModels({"GFPGAN": tmp_path / "GFPGAN"}, tmp_path)
    with pytest.raises(FaceRestorationError, match="not a face restorer"):
        wrong.load_restorer("GFPGAN")


def test_paste_back_changes_the_face_and_leaves_the_rest_unchanged(models: FaceModels) -> None:
    rgb = np.asarray(_picture())
    restorer = models.load_restorer("GFPGAN")
    out = paste_faces(rgb, FixedFaces().landmarks(rgb), descriptor_restore(restorer))
    # The face frame maps 512 px to 128 px at (20, 30)..(148, 158); everything outside it is untouched.
    outside = np.ones(rgb.shape[:2], bool)
    outside[30:158, 20:148] = False
    assert np.array_equal(out[outside], rgb[outside])
    centre = (slice(70, 110), slice(60, 100))
    assert np.abs(out[centre].astype(int) - rgb[centre].astype(int)).mean() > 20
    # The feathered edge: inside the frame near its border the change is partial.
    edge = np.abs(out[94, 21].astype(int) - rgb[94, 21].astype(int)).mean()
    assert edge < np.abs(out[94, 84].astype(int) - rgb[94, 84].astype(int)).mean() + 1e-6


def test_visibility_zero_changes_nothing_and_no_face_changes_nothing(models: FaceModels) -> None:
    image = _picture()
    same = restore_faces(image, "GFPGAN", models, visibility=0.0, detector=FixedFaces())
    assert np.array_equal(np.asarray(same), np.asarray(image))

    class NoFaces:
        def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
            return []

    assert restore_faces(image, "GFPGAN", models, detector=NoFaces()) is image


def test_extras_upscale_then_gfpgan_visibility(models: FaceModels, tmp_path: Path) -> None:
    faces = dataclasses.replace(models, detector=FixedFaces())
    catalog = UpscalerCatalog({})
    p = ExtrasParams(upscaler_1="Lanczos", upscaling_resize=2, gfpgan_visibility=0.5)
    out = run_extras_steps(_picture(), p, catalog, faces=faces)
    assert out.image.size == (400, 400)
    assert out.infotext == "Postprocess upscale by: 2, Postprocess upscaler: Lanczos, GFPGAN visibility: 0.5"
    missing = FaceModels({"GFPGAN": tmp_path / "none", "CodeFormer": tmp_path / "none"}, tmp_path / "none")
    with pytest.raises(FaceRestorationError, match="no face detector"):
        run_extras_steps(_picture(), p, catalog, faces=missing)


def test_restore_faces_in_txt2img_over_the_api(tmp_path: Path, tiny_sd1: Path) -> None:
    import base64
    import io
    import json

    from tests.test_api_harness import start_live_server

    data = tmp_path / "data"
    write_tiny_restoreformer(data / "models" / "GFPGAN" / "tiny.safetensors")
    live = start_live_server(data, "--nowebui", "--no-hashing", ckpt=tiny_sd1)
    try:
        body = dict(prompt="a face", steps=2, width=64, height=64, sampler_name="Euler", seed=4,
                    override_settings={"face_restoration_model": "GFPGAN"})
        with live.client() as c:
            refused = c.post("/sdapi/v1/txt2img", json={**body, "restore_faces": True})
            assert refused.status_code == 422 and "no face detector" in refused.json()["detail"]
            live.runtime.faces = dataclasses.replace(live.runtime.faces, detector=FixedFaces((4.0, 6.0), 0.08))
            plain = c.post("/sdapi/v1/txt2img", json=body).json()
            restored = c.post("/sdapi/v1/txt2img", json={**body, "restore_faces": True}).json()
        a, b = (np.asarray(Image.open(io.BytesIO(base64.b64decode(r["images"][0]))).convert("RGB"), dtype=int)
                for r in (plain, restored))
        assert "Face restoration: GFPGAN" in restored["info"] and "Face restoration" not in plain["info"]
        info, plain_info = json.loads(restored["info"]), json.loads(plain["info"])
        assert (info["restore_faces"], info["face_restoration_model"]) == (True, "GFPGAN")
        assert (plain_info["restore_faces"], plain_info["face_restoration_model"]) == (False, None)
        assert np.array_equal(a[50:, :], b[50:, :])  # below the face frame (rows 6..47): untouched
        assert np.abs(a[20:30, 15:30] - b[20:30, 15:30]).mean() > 5  # the face itself was restored
    finally:
        live.stop()
