"""The face-restoration settings around the restore step: `save_images_before_face_restoration`
(a copy of the unrestored picture, suffix "-before-face-restoration", with its infotext) and
`face_restoration_unload` (the restorer leaves the compute device after use, through the model
cache), in generation and in Extras."""

from __future__ import annotations

import base64
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.extras.params import ExtrasParams
from modules.extras.process import run_extras_steps
from modules.face_restoration.models import FaceModels
from modules.face_restoration.run import restore_faces
from modules.upscalers.catalog import UpscalerCatalog
from tests.fixtures.tiny_faces import write_tiny_restoreformer
from tests.test_engine_seams import RecordingPlacer
from tests.test_face_restoration import FixedFaces


def _picture(size: int = 200) -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def _cached_models(tmp_path: Path) -> tuple[FaceModels, RecordingPlacer]:
    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryPolicy

    write_tiny_restoreformer(tmp_path / "GFPGAN" / "tiny.safetensors")
    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy.from_flags(device="cuda"), placer=placer)
    models = FaceModels({"CodeFormer": tmp_path / "Codeformer", "GFPGAN": tmp_path / "GFPGAN"},
                        tmp_path / "face_detection", detector=FixedFaces(), cache=cache)
    return models, placer


@pytest.mark.parametrize("unload", [False, True])
def test_face_restoration_unload_moves_the_restorer_off_the_device(tmp_path: Path, unload: bool) -> None:
    models, placer = _cached_models(tmp_path)
    restore_faces(_picture(), "GFPGAN", models, unload=unload)
    key = next(k for k in placer.where if k.startswith("face_restorer/"))
    assert placer.moves[0] == (key, "cuda")
    assert placer.where[key] == ("cpu" if unload else "cuda")
    assert models.cache.handle(key).loaded  # moved to RAM, not dropped


def test_extras_reads_face_restoration_unload(tmp_path: Path) -> None:
    models, placer = _cached_models(tmp_path)
    p = ExtrasParams(gfpgan_visibility=1.0)
    run_extras_steps(_picture(), p, UpscalerCatalog({}), {"face_restoration_unload": True}, faces=models)
    assert list(placer.where.values()) == ["cpu"]


def _png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_save_images_before_face_restoration(tmp_path: Path, tiny_sd1: Path) -> None:
    from tests.test_api_harness import start_live_server

    data = tmp_path / "data"
    write_tiny_restoreformer(data / "models" / "GFPGAN" / "tiny.safetensors")
    live = start_live_server(data, "--nowebui", "--no-hashing", ckpt=tiny_sd1)
    live.runtime.faces = dataclasses.replace(live.runtime.faces, detector=FixedFaces((4.0, 6.0), 0.08))
    body = dict(prompt="a face", steps=2, width=64, height=64, sampler_name="Euler", seed=4)
    settings = {"face_restoration_model": "GFPGAN", "samples_filename_pattern": "[seed]"}
    try:
        with live.client() as c:
            plain = c.post("/sdapi/v1/txt2img", json={**body, "override_settings": settings}).json()
            off = c.post("/sdapi/v1/txt2img", json={**body, "restore_faces": True, "save_images": True,
                                                   "override_settings": settings})
            assert off.status_code == 200
            files_off = sorted(p.name for p in (data / "outputs").rglob("*.png"))
            on = c.post("/sdapi/v1/txt2img", json={
                **body, "restore_faces": True, "save_images": True,
                "override_settings": {**settings, "save_images_before_face_restoration": True}}).json()
    finally:
        live.stop()
    assert not any("before-face-restoration" in n for n in files_off)  # off by default
    files = sorted((data / "outputs" / "txt2img-images").rglob("*.png"))
    before = [f for f in files if f.stem.endswith("-before-face-restoration")]
    assert len(files) == 3 and len(before) == 1 and before[0].name.endswith("-4-before-face-restoration.png")
    saved = Image.open(before[0])
    assert "Face restoration: GFPGAN" in saved.info["parameters"]
    unrestored = np.asarray(_png(plain["images"][0]).convert("RGB"))
    restored = np.asarray(_png(on["images"][0]).convert("RGB"))
    assert np.array_equal(np.asarray(saved.convert("RGB")), unrestored)
    assert not np.array_equal(unrestored, restored)
    after = [f for f in files if f not in before and f.stat().st_mtime_ns >= before[0].stat().st_mtime_ns]
    assert after and np.array_equal(np.asarray(Image.open(after[-1]).convert("RGB")), restored)
