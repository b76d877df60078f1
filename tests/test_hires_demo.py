"""Hires fix with the shipped demo model through the user's path (Runtime -> queue -> engine):
a 64->128 hires of "a red circle on a blue background" is still judged red on blue."""

from __future__ import annotations

import pytest
from PIL import Image

from modules.cmd_args import parse_args
from modules.engine.request import GenerationRequest
from modules.paths import DEMO_MODEL_FILE
from modules.training.judge import judge_image

PROMPT = "a red circle on a blue background"
BASE = dict(prompt=PROMPT, width=64, height=64, steps=20, cfg_scale=3.0, sampler_name="Euler", save_images=False,
            enable_hr=True, hr_scale=2.0, hr_second_pass_steps=10, denoising_strength=0.5)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory):
    from modules.runtime import build_runtime

    assert DEMO_MODEL_FILE.is_file()
    rt = build_runtime(parse_args(["--data-dir", str(tmp_path_factory.mktemp("hires-demo")), "--cpu"], environ={}))
    yield rt
    rt.shutdown()


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_demo_hires_is_twice_the_size_and_still_red_on_blue(runtime, upscaler: str) -> None:
    result = runtime.run(GenerationRequest(**BASE, hr_upscaler=upscaler, seed=11), timeout=300)
    image = result.images[result.index_of_first_image]
    assert image.size == (128, 128)
    verdict = judge_image(image.resize((64, 64), Image.LANCZOS))  # the judge reads the demo's native size
    assert (verdict.background, verdict.colour) == ("blue", "red"), verdict
    assert "Hires upscale: 2.0" in result.infotexts[0] and f"Hires upscaler: {upscaler}" in result.infotexts[0]
    assert "Size: 64x64" in result.infotexts[0]
