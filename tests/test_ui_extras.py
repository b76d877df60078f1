"""The Extras tab without a browser: its widgets exist with A1111's ids, and the Generate handler
upscales a single picture, a batch and a directory (saving with infotext), refusing folders
outside the data folder and empty inputs with a message next to the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")

from modules.cmd_args import parse_args  # noqa: E402
from modules.runtime import build_runtime  # noqa: E402
from modules.ui.blocks import create_blocks  # noqa: E402
from modules.ui.extras import MODES, run_from_ui  # noqa: E402
from tests.fixtures.tiny_upscalers import write_tiny_esrgan  # noqa: E402


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-extras")
    write_tiny_esrgan(data / "models" / "ESRGAN" / "4x-tiny.safetensors")
    rt = build_runtime(parse_args(["--data-dir", str(data), "--no-demo-model", "--no-hashing"], environ={}))
    yield rt
    rt.shutdown()


def _picture(w: int = 12, h: int = 8) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _run(runtime: Any, mode: str = MODES[0], single: Any = None, files: Any = None, input_dir: str = "",
         output_dir: str = "", **kw: Any) -> tuple[list[Any], str, str]:
    args = dict(show_results=True, resize_tab="Scale by", scale_by=2.0, width=64, height=64, crop=True,
                upscaler_1="4x-tiny", upscaler_2="None", visibility=0.0) | kw
    return run_from_ui(runtime, mode, single, files, input_dir, output_dir, *args.values())


def test_tab_has_a1111_ids_and_lists_the_upscalers(runtime: Any) -> None:
    demo = create_blocks(runtime)
    comps = {c["props"]["elem_id"]: c for c in demo.config["components"] if c["props"].get("elem_id")}
    for elem in ("tab_extras", "extras_image", "extras_image_batch", "extras_batch_input_dir",
                 "extras_batch_output_dir", "extras_upscaling_resize", "extras_upscaling_resize_w",
                 "extras_upscaler_1", "extras_upscaler_2", "extras_upscaler_2_visibility", "extras_generate",
                 "extras_gfpgan_visibility", "extras_codeformer_visibility", "extras_codeformer_weight"):
        assert elem in comps, elem
    choices = [c[0] for c in comps["extras_upscaler_1"]["props"]["choices"]]
    assert choices == ["None", "Lanczos", "Nearest", "4x-tiny"]


def test_single_image_is_upscaled_and_saved_with_its_infotext(runtime: Any) -> None:
    gallery, info, error = _run(runtime, single=_picture())
    assert error == "" and gallery[0].size == (24, 16)
    assert "Postprocess upscaler: 4x-tiny" in info
    saved = sorted((runtime.paths.data_dir / "outputs" / "extras-images").glob("*.png"))
    assert saved and Image.open(saved[-1]).info["postprocessing"].startswith("Postprocess upscale by: 2")


def test_scale_to_and_batch_process(runtime: Any, tmp_path: Path) -> None:
    files = []
    for i in range(2):
        path = tmp_path / f"p{i}.png"
        _picture(10 + i, 10).save(path)
        files.append(str(path))
    gallery, _, error = _run(runtime, MODES[1], files=files, resize_tab="Scale to", width=30, height=20,
                             upscaler_1="Lanczos")
    assert error == "" and [g.size for g in gallery] == [(30, 20), (30, 20)]


def test_directory_mode_stays_inside_the_data_folder(runtime: Any) -> None:
    source = runtime.paths.data_dir / "to-upscale"
    source.mkdir(exist_ok=True)
    _picture().save(source / "cat.png")
    gallery, _, error = _run(runtime, MODES[2], input_dir="to-upscale", output_dir="upscaled",
                             upscaler_1="Lanczos")
    assert error == "" and (runtime.paths.data_dir / "upscaled" / "cat.png").is_file()
    _, _, error = _run(runtime, MODES[2], input_dir="/etc", upscaler_1="Lanczos")
    assert "outside the data folder" in error
    _, _, error = _run(runtime, MODES[2], input_dir="to-upscale", output_dir="../../tmp", upscaler_1="Lanczos")
    assert "outside the data folder" in error


def test_missing_picture_and_unknown_upscaler_are_messages(runtime: Any) -> None:
    assert "Drop a picture" in _run(runtime)[2]
    assert "not found" in _run(runtime, single=_picture(), upscaler_1="4x-gone")[2]
