"""The order of the Extras operations, as A1111 1.10 runs its postprocessing scripts: Upscale,
then GFPGAN, then CodeFormer, unless the setting `postprocessing_operation_order` names some first;
`upscale_first` is accepted and has no effect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.extras.params import ExtrasParams
from modules.extras.process import operation_order, run_extras_steps
from modules.face_restoration.models import FaceModels
from modules.upscalers.catalog import UpscalerCatalog
from tests.fixtures.tiny_faces import write_tiny_restoreformer
from tests.test_face_restoration import FixedFaces


class SizeSpy(FixedFaces):
    """A detector that also records the size of every picture it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        self.sizes.append((rgb.shape[1], rgb.shape[0]))
        return super().landmarks(rgb)


@pytest.fixture
def faces(tmp_path: Path) -> FaceModels:
    write_tiny_restoreformer(tmp_path / "GFPGAN" / "tiny.safetensors")
    write_tiny_restoreformer(tmp_path / "Codeformer" / "tiny.safetensors")  # a face model serves as either
    return FaceModels({"CodeFormer": tmp_path / "Codeformer", "GFPGAN": tmp_path / "GFPGAN"},
                      tmp_path / "face_detection", detector=SizeSpy())


def _picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(2).integers(0, 256, (100, 100, 3), dtype=np.uint8), "RGB")


def test_default_order_is_upscale_gfpgan_codeformer() -> None:
    assert operation_order({}) == ["Upscale", "GFPGAN", "CodeFormer"]
    assert operation_order({"postprocessing_operation_order": ["CodeFormer"]}) == ["CodeFormer", "Upscale", "GFPGAN"]
    assert operation_order({"postprocessing_operation_order": ["GFPGAN", "Upscale"]}) == [
        "GFPGAN", "Upscale", "CodeFormer"]


@pytest.mark.parametrize("upscale_first", [False, True])
def test_faces_are_restored_on_the_upscaled_picture(faces: FaceModels, upscale_first: bool) -> None:
    p = ExtrasParams(upscaler_1="Lanczos", upscaling_resize=2, gfpgan_visibility=1.0, codeformer_visibility=0.5,
                     upscale_first=upscale_first)
    out = run_extras_steps(_picture(), p, UpscalerCatalog({}), {}, faces=faces)
    assert faces.detector.sizes == [(200, 200), (200, 200)]  # both restorers saw the upscaled picture
    assert list(out.info) == ["Postprocess upscale by", "Postprocess upscaler", "GFPGAN visibility",
                              "CodeFormer visibility", "CodeFormer weight"]


def test_postprocessing_operation_order_runs_named_operations_first(faces: FaceModels) -> None:
    p = ExtrasParams(upscaler_1="Lanczos", upscaling_resize=2, gfpgan_visibility=1.0, codeformer_visibility=1.0)
    settings = {"postprocessing_operation_order": ["CodeFormer", "Upscale"]}
    out = run_extras_steps(_picture(), p, UpscalerCatalog({}), settings, faces=faces)
    assert faces.detector.sizes == [(100, 100), (200, 200)]  # CodeFormer before the upscale, GFPGAN after
    assert list(out.info)[:2] == ["CodeFormer visibility", "CodeFormer weight"]
    assert out.image.size == (200, 200)


def test_the_setting_is_checked_against_the_operations() -> None:
    from modules.settings.schema import default_schema
    from modules.settings.validation import SettingsError, check_value

    info = default_schema()["postprocessing_operation_order"]
    assert check_value("postprocessing_operation_order", info, ["GFPGAN"]) == ["GFPGAN"]
    with pytest.raises(SettingsError, match="Upscale"):
        check_value("postprocessing_operation_order", info, ["Sharpen"])
