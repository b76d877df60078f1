"""TEED (`te_hed` / `softedge_teed`) and Anyline (`softedge_anyline`): controlnet-aux's TED network
with random weights in the extension's files (`TEED/7_model.pth`, `TEED/MTEED.pth`), offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modules.api.controlnet_routes import DetectBody, detect
from modules.api.errors import ApiError
from modules.controlnet.preprocessors.annotators import AnnotatorMissingError
from modules.controlnet.preprocessors.registry import PreprocessorRegistry
from modules.controlnet.service import ControlNetService
from tests.fixtures.offline import block_network


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    block_network(monkeypatch)


def _disc(h: int = 96, w: int = 136) -> np.ndarray:
    """A grey disc with a faint ring: TEED finds its edges; lineart_standard marks faint pixels 1."""
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.sqrt((yy - h // 2) ** 2 + (xx - 60) ** 2)
    image = np.full((h, w, 3), 200, np.uint8)
    image[d < 30] = 120
    image[(d >= 30) & (d < 34)] = 190
    return image


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from controlnet_aux.teed.ted import TED

    folder = tmp_path_factory.mktemp("teed")
    (folder / "TEED").mkdir()
    for seed, name in ((0, "7_model.pth"), (1, "MTEED.pth")):
        torch.manual_seed(seed)
        torch.save(TED().state_dict(), folder / "TEED" / name)
    return folder


def test_teed_map_and_its_safe_steps(root: Path) -> None:
    reg = PreprocessorRegistry(root)
    out, call = reg.run("softedge_teed", _disc(), processor_res=96)
    assert out.shape == (96, 136, 3) and out.dtype == np.uint8 and (out[..., 0] == out[..., 2]).all()
    assert call.threshold_a == 2
    assert set(np.unique(out)) <= {0, 127, 255}  # 2 safe steps: sigmoid levels floor(3x)/2
    smooth, _ = reg.run("te_hed", _disc(), processor_res=96, threshold_a=0)
    assert len(np.unique(smooth)) > 3  # 0 = not quantised
    inside, edge = smooth[48, 60, 0], smooth[48, 60 + 30, 0]
    assert inside != edge  # the network sees the disc


def test_anyline_marks_the_lineart_ones_on_the_mteed_map(root: Path) -> None:
    from modules.controlnet.preprocessors.teed import MTEED, teed_edges

    reg = PreprocessorRegistry(root)
    out, call = reg.run("softedge_anyline", _disc())
    assert call.resolution == 1280 and out.shape == (1280, 1813, 3)  # the extension's default resolution
    small, call = reg.run("softedge_anyline", _disc(), processor_res=96)
    lineart, _ = reg.run("lineart_standard", _disc(), processor_res=96)
    edges = teed_edges(reg.annotators.detector(MTEED), _disc(), 2)
    ones = lineart[..., 0] == 1
    assert ones.sum() > 36  # the faint ring
    assert (small[..., 0][ones] == 1).all()
    assert (small[..., 0][~ones] == edges[~ones]).all()


def test_names_sliders_and_control_type(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    assert reg.canonical("softedge_teed") == "te_hed"
    assert {"softedge_teed", "softedge_anyline"} <= set(reg.module_list(alias_names=True))
    safe = {"name": "Safe Steps", "value": 2, "min": 0, "max": 10, "step": 1}
    detail = reg.module_detail()
    assert detail["te_hed"]["sliders"] == [{"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8},
                                           safe]
    anyline = detail["softedge_anyline"]["sliders"]
    assert anyline[0]["value"] == 1280 and anyline[1] == safe
    soft = reg.control_types(["control_v11p_sd15_softedge [a8575a2a]"])["SoftEdge"]["module_list"]
    assert "te_hed" in soft and "softedge_anyline" in soft


@pytest.mark.parametrize(("module", "missing"), [("softedge_teed", "7_model.pth"), ("softedge_anyline", "MTEED.pth")])
def test_a_missing_file_is_named_with_its_folder(tmp_path: Path, module: str, missing: str) -> None:
    with pytest.raises(AnnotatorMissingError) as err:
        PreprocessorRegistry(tmp_path).run(module, _disc(), processor_res=64)
    assert f"'{missing}'" in str(err.value) and str(tmp_path / "TEED") in str(err.value)
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_disc()).save(buf, "PNG")
    image = base64.b64encode(buf.getvalue()).decode()
    with pytest.raises(ApiError) as api_err:
        detect(ControlNetService([tmp_path], tmp_path),
               DetectBody(controlnet_module=module, controlnet_input_images=[image]))
    assert api_err.value.status_code == 422 and missing in api_err.value.detail
