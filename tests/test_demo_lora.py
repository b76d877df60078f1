"""The shipped demo LoRA through the app's own LoRA path: `<lora:demo-ring:1>` makes the demo model
draw rings (a shape it does not know), `:0` does not; judged on the pixels."""

from __future__ import annotations

import pytest

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.networks.feature import NetworksFeature
from modules.networks.services import build_network_services
from modules.paths import APP_ROOT, DEMO_MODEL_FILE
from modules.training.judge import judge_image
from modules.training.train_demo_lora import hole_fraction
from tests.engine_helpers import engine_context, load_cpu_model

DEMO_LORA_DIR = APP_ROOT / "models-demo" / "Lora"
SCENES = (("green", "orange", 1), ("yellow", "purple", 2), ("white", "black", 2), ("red", "blue", 1))


@pytest.fixture(scope="module")
def demo_ctx(tmp_path_factory: pytest.TempPathFactory):
    model = load_cpu_model(DEMO_MODEL_FILE)
    ctx = engine_context(DEMO_MODEL_FILE, tmp_path_factory.mktemp("demo-lora"), model=model)
    ctx.features = (NetworksFeature(build_network_services([DEMO_LORA_DIR], None)),)
    return ctx


def _draw(ctx, prompt: str, seed: int):
    req = GenerationRequest(prompt=prompt, seed=seed, width=64, height=64, steps=20, cfg_scale=3,
                            sampler_name="Euler", save_images=False)
    result = generate(req, ctx)
    assert not result.comments, result.comments
    return result.images[0]


def test_the_demo_lora_is_listed_with_its_preview():
    assert (DEMO_LORA_DIR / "demo-ring.safetensors").is_file()
    assert (DEMO_LORA_DIR / "demo-ring.preview.png").is_file()


def test_demo_lora_draws_rings_only_when_applied(demo_ctx):
    rings_on, rings_off = 0, 0
    for colour, background, seed in SCENES:
        prompt = f"a {colour} ring on a {background} background"
        off = _draw(demo_ctx, f"{prompt} <lora:demo-ring:0>", seed)
        on = _draw(demo_ctx, f"{prompt} <lora:demo-ring:1>", seed)
        assert judge_image(on).background == background and judge_image(off).background == background
        rings_on += hole_fraction(on) > 0.05
        rings_off += hole_fraction(off) > 0.05
    assert rings_on >= 3, f"only {rings_on} of {len(SCENES)} pictures with the LoRA show a ring"
    assert rings_off == 0, f"{rings_off} pictures without the LoRA show a ring"
