"""SD upscale: the tile grid covers the picture and joins without seams; the script upscales,
redraws every tile with img2img and returns the upscaled size, from A1111-style script_args."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from modules.engine.validation import InvalidRequestError
from modules.scripts.sd_upscale import parse_script_args, run_sd_upscale
from modules.scripts.tile_grid import combine, plan_grid, split
from modules.upscalers.catalog import UpscalerCatalog

NAMES = ["None", "Lanczos", "Nearest", "4x-tiny"]


def _picture(w: int, h: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_grid_covers_the_picture_and_joining_unchanged_tiles_gives_it_back() -> None:
    image = _picture(150, 100)
    grid = plan_grid(150, 100, 64, 64, 16)
    assert grid.xs[0] == 0 and grid.xs[-1] == 150 - 64 and grid.ys[-1] == 100 - 64
    assert all(b - a <= 64 - 16 for a, b in zip(grid.xs, grid.xs[1:], strict=False))
    assert np.array_equal(np.asarray(combine(split(image, grid), grid)), np.asarray(image))


def test_overlaps_cross_fade_between_tiles() -> None:
    grid = plan_grid(96, 32, 64, 32, 32)
    dark, light = Image.new("RGB", (64, 32), (0, 0, 0)), Image.new("RGB", (64, 32), (200, 200, 200))
    row = np.asarray(combine([dark, light], grid))[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 200 and np.all(np.diff(row) >= 0) and np.abs(np.diff(row)).max() <= 8


def test_script_args_in_a1111_order_by_name_or_index() -> None:
    assert parse_script_args(["", 32, "Lanczos", 3], NAMES).__dict__ == {"overlap": 32, "upscaler": "Lanczos",
                                                                         "scale_factor": 3.0}
    assert parse_script_args([None, 16, 3, 2.0], NAMES).upscaler == "4x-tiny"
    assert parse_script_args([8, "Nearest", 2], NAMES).overlap == 8
    with pytest.raises(InvalidRequestError, match="index 9"):
        parse_script_args(["", 8, 9, 2], NAMES)
    with pytest.raises(InvalidRequestError, match="scale factor"):
        parse_script_args(["", 8, "None", 10], NAMES)


@pytest.fixture()
def upscale_ctx(ctx: Any, tmp_path: Path) -> Any:
    from tests.fixtures.tiny_upscalers import write_tiny_esrgan

    write_tiny_esrgan(tmp_path / "ESRGAN" / "4x-tiny.safetensors")
    ctx.extras["upscalers"] = UpscalerCatalog({"ESRGAN": tmp_path / "ESRGAN"})
    return ctx


def test_sd_upscale_redraws_every_tile_at_the_upscaled_size(upscale_ctx: Any, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from modules.engine import generate as generate_module
    from modules.engine.request import GenerationRequest

    calls: list[tuple[int, int]] = []
    real = generate_module.generate

    def spy(req: Any, ctx: Any, control: Any = None) -> Any:
        calls.append((len(req.init_images), req.seed))
        return real(req, ctx, control)

    monkeypatch.setattr(generate_module, "generate", spy)
    req = GenerationRequest(mode="img2img", init_images=(_picture(48, 40),), width=64, height=64, steps=2,
                            batch_size=2, seed=5, denoising_strength=0.3, sampler_name="Euler",
                            script_name="sd upscale", script_args=("", 16, "Lanczos", 2.0), save_images=False)
    result = run_sd_upscale(req, upscale_ctx)
    assert [im.size for im in result.images] == [(96, 80)]
    assert calls == [(2, 5), (2, 5)]  # 2x2 tiles of 64, two per batch, one seed for the picture
    assert "SD upscale overlap: 16, SD upscale upscaler: Lanczos" in result.infotexts[0]


def test_sd_upscale_with_a_model_upscaler_and_the_wrong_mode(upscale_ctx: Any) -> None:
    from modules.engine.request import GenerationRequest

    req = GenerationRequest(mode="img2img", init_images=(_picture(32, 32),), width=64, height=64, steps=1,
                            seed=1, denoising_strength=0.2, sampler_name="Euler", script_args=("", 0, "4x-tiny", 2),
                            save_images=False)
    assert run_sd_upscale(req, upscale_ctx).images[0].size == (64, 64)
    with pytest.raises(InvalidRequestError, match="img2img script"):
        run_sd_upscale(GenerationRequest(mode="txt2img"), upscale_ctx)
