"""The shipped demo model through the user's path (Runtime → queue → engine): pictures mean what
prompts say, measured on pixels with the world's own judge (modules/training/judge.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

# Not covered here yet (see the issue note): negative prompt, emphasis and inpaint-colour checks on the
# demo model. Byte-identical pixels outside an inpaint mask are tested in tests/test_inpaint_engine.py.
from modules.cmd_args import parse_args
from modules.engine.request import GenerationRequest
from modules.paths import DEMO_MODEL_FILE
from modules.training.judge import judge_image, score
from modules.training.world import Scene, render

# (prompt, seed): seen and held-out combinations; the judge reads border = background, rest = shape.
PROMPTS = [
    "a red circle on a blue background", "a green square on a white background",
    "a yellow triangle on a black background", "a white circle on a purple background",
    "a blue square on a yellow background", "a purple triangle on a green background",
    "a orange circle on a black background", "a black square on a orange background",
    "a red triangle on a white background", "a green circle on a red background",
    "a blue triangle on a orange background", "a yellow square on a purple background",
]
BASE = dict(width=64, height=64, steps=20, cfg_scale=3.0, sampler_name="Euler", save_images=False)
# Thresholds sit below the measured accuracy (see MODEL_CARD.md) so that a broken engine fails.
MIN_BACKGROUND_ACC, MIN_COLOUR_ACC = 0.75, 0.6


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory):
    from modules.runtime import build_runtime

    assert DEMO_MODEL_FILE.is_file(), "the demo model ships in models-demo/"
    rt = build_runtime(parse_args(["--data-dir", str(tmp_path_factory.mktemp("demo")), "--cpu"], environ={}))
    assert rt.checkpoint_for(None).is_demo and rt.checkpoint_for(None).title.startswith("demo/")
    yield rt
    rt.shutdown()


def _run(runtime, **kw) -> Image.Image:
    result = runtime.run(GenerationRequest(**{**BASE, **kw}), timeout=300)
    return result.images[result.index_of_first_image]


def _mean_rgb(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    if box:
        arr = arr[box[1]:box[3], box[0]:box[2]]
    return arr.reshape(-1, 3).mean(axis=0)


def test_prompt_set_accuracy(runtime) -> None:
    scores = [score(_run(runtime, prompt=p, seed=100 + i), p) for i, p in enumerate(PROMPTS)]
    background = np.mean([s.background_ok for s in scores])
    colour = np.mean([s.colour_ok for s in scores])
    shape = np.mean([s.shape_ok for s in scores])
    print(f"demo accuracy over {len(PROMPTS)} prompts: background {background:.2f}, shape colour {colour:.2f}, "
          f"shape {shape:.2f}")
    assert background >= MIN_BACKGROUND_ACC and colour >= MIN_COLOUR_ACC


def test_infotext_names_the_demo_model(runtime) -> None:
    result = runtime.run(GenerationRequest(prompt=PROMPTS[0], seed=1, **BASE), timeout=300)
    info = runtime.checkpoint_for(None)
    assert f"Model: {info.filename.stem}" in result.infotexts[0]
    if info.hash_short:
        assert f"Model hash: {info.hash_short}" in result.infotexts[0]


def _world_image() -> Image.Image:
    scene = Scene(colour="red", shape="square", background="blue", centre=(0.5, 0.5), half_size=0.25)
    return Image.fromarray(render(scene, 64))


def test_img2img_low_strength_keeps_the_layout(runtime) -> None:
    init = _world_image()
    out = _run(runtime, mode="img2img", init_images=(init,), denoising_strength=0.3,
               prompt="a red square on a blue background", seed=9)
    verdict = judge_image(out)
    assert (verdict.background, verdict.colour) == ("blue", "red")
    diff = np.abs(np.asarray(out, np.float32) - np.asarray(init, np.float32)).mean()
    assert diff < 40
