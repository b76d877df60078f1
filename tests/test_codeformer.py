"""CodeFormer end to end with the smallest CodeFormer spandrel_extra_arches loads (written by the
test in the original `.pth` layout and as `.safetensors`): detection and loading through the real
loader (pickles through the restricted unpickler), the fidelity weight changing the face, the
`code_former_weight` setting and Extras' CodeFormer weight over the API, the face-restorers list,
and the messages for a missing file or a missing architecture package."""

from __future__ import annotations

import base64
import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.face_restoration.models import FaceModels, FaceRestorationError, load_face_descriptor
from modules.face_restoration.paste import descriptor_restore
from tests.fixtures.tiny_faces import tiny_codeformer_state, write_tiny_codeformer
from tests.test_face_restoration import FixedFaces


@pytest.fixture(scope="module")
def cf_state() -> dict:
    return tiny_codeformer_state()


@pytest.fixture(scope="module")
def cf_folder(tmp_path_factory: pytest.TempPathFactory, cf_state: dict) -> Path:
    folder = tmp_path_factory.mktemp("faces") / "Codeformer"
    write_tiny_codeformer(folder / "codeformer.safetensors", cf_state)
    return folder


def test_original_pth_and_safetensors_load_as_codeformer(cf_folder: Path, cf_state: dict, tmp_path: Path) -> None:
    pth = write_tiny_codeformer(tmp_path / "Codeformer" / "codeformer.pth", cf_state)
    from_pickle = load_face_descriptor(pth, "CodeFormer")
    from_safetensors = load_face_descriptor(cf_folder / "codeformer.safetensors", "CodeFormer")
    assert from_pickle.architecture.id == from_safetensors.architecture.id == "CodeFormer"
    assert str(from_pickle.purpose) == "FaceSR"
    key = "fuse_convs_dict.512.scale.0.weight"
    assert from_pickle.model.state_dict()[key].equal(from_safetensors.model.state_dict()[key])
    # beside a .pth of the same name the .safetensors file is the one used
    write_tiny_codeformer(tmp_path / "Codeformer" / "codeformer.safetensors", cf_state)
    models = FaceModels({"CodeFormer": tmp_path / "Codeformer"}, tmp_path / "face_detection")
    assert models.restorer_file("CodeFormer").suffix == ".safetensors"


def test_missing_file_and_missing_package_are_named(cf_folder: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    empty = FaceModels({"CodeFormer": tmp_path / "Codeformer"}, tmp_path / "face_detection")
    with pytest.raises(FaceRestorationError, match=r"no CodeFormer model: put a CodeFormer .* into .*Codeformer"):
        empty.load_restorer("CodeFormer")
    monkeypatch.setitem(sys.modules, "spandrel_extra_arches", None)  # as if it were not installed
    with pytest.raises(FaceRestorationError, match=r"codeformer.safetensors in .* needs the spandrel_extra_arches"):
        load_face_descriptor(cf_folder / "codeformer.safetensors", "CodeFormer")


@pytest.mark.slow  # the same fidelity check runs over the API below
def test_weight_is_codeformers_fidelity(cf_folder: Path) -> None:
    descriptor = load_face_descriptor(cf_folder / "codeformer.safetensors", "CodeFormer")
    face = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    strongest = descriptor_restore(descriptor, 0.0)(face).astype(int)
    faithful = descriptor_restore(descriptor, 1.0)(face).astype(int)
    assert np.abs(strongest - faithful).mean() > 5  # the weight reaches the fusion block
    assert np.abs(strongest - face).mean() > 5  # and the face is really replaced


def _b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _decode(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"), dtype=int)


def test_extras_codeformer_over_the_api(tmp_path: Path, cf_state: dict) -> None:
    from tests.test_api_harness import start_live_server

    data = tmp_path / "data"
    write_tiny_codeformer(data / "models" / "Codeformer" / "codeformer.pth", cf_state)
    live = start_live_server(data, "--nowebui", "--no-hashing")
    try:
        live.runtime.faces = dataclasses.replace(live.runtime.faces, detector=FixedFaces())
        picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8))
        body = {"image": _b64(picture), "codeformer_visibility": 1, "codeformer_weight": 0.25}
        with live.client() as c:
            listed = c.get("/sdapi/v1/face-restorers").json()
            answer = c.post("/sdapi/v1/extra-single-image", json=body)
            faithful = c.post("/sdapi/v1/extra-single-image", json={**body, "codeformer_weight": 1})
            refused = c.post("/sdapi/v1/extra-single-image", json={**body, "codeformer_weight": 2})
        assert listed == [{"name": "CodeFormer", "cmd_dir": str(data / "models" / "Codeformer")}]
        assert answer.status_code == 200, answer.text
        assert "CodeFormer visibility: 1, CodeFormer weight: 0.25" in answer.json()["html_info"]
        out, before = _decode(answer.json()["image"]), np.asarray(picture, dtype=int)
        outside = np.ones((200, 200), bool)
        outside[30:158, 20:148] = False  # FixedFaces' face frame
        assert np.array_equal(out[outside], before[outside])
        assert np.abs(out[70:110, 60:100] - before[70:110, 60:100]).mean() > 5
        other = _decode(faithful.json()["image"])
        assert np.abs(out[70:110, 60:100] - other[70:110, 60:100]).mean() > 3  # the weight changes the face
        assert refused.status_code == 422 and "codeformer_weight" in refused.json()["detail"]
        # the restorer is a model-cache handle: loaded once, reused
        assert any(k.startswith("face_restorer/CodeFormer/") for k in live.runtime.models._handles)
    finally:
        live.stop()
