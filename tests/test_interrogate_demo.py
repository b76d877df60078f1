"""The shipped demo CLIP and captioner on fixed pictures of the demo world, through the app's service.

Measured with `python -m modules.interrogate.demo_eval --count N` (docs/INTERROGATE.md):
- 96 pictures: caption colour 100 %, shape 68.8 %, background 100 %; labels colour 99.0 %, shape 88.5 %;
- the first 24: caption colour 100 %, shape 79.2 %, background 100 %; labels colour 95.8 %, shape 83.3 %.
The tests rerun them with thresholds a little below the measured values.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modules.hashing import sha256_file
from modules.interrogate.demo_eval import evaluate
from modules.interrogate.demo_training import DEMO_CAPTION_NAME, DEMO_CLIP_NAME, eval_scenes, render_pil
from modules.interrogate.folders import DEMO_ROOT, InterrogateFolders
from modules.interrogate.placement import ModelPlacement
from modules.interrogate.service import InterrogateService
from modules.interrogate.session import trimmed_term_lists
from modules.training import world


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> InterrogateService:
    root = tmp_path_factory.mktemp("demo-eval")
    folders = InterrogateFolders(clip_dir=root / "CLIP", caption_dir=root / "BLIP", demo_root=DEMO_ROOT)
    return InterrogateService(folders, root, ModelPlacement(torch.device("cpu")), lambda _n, p: sha256_file(p),
                              term_lists=trimmed_term_lists(root / "lists", 40))


def test_demo_models_are_small_and_listed(service: InterrogateService) -> None:
    assert service.clip_names() == [DEMO_CLIP_NAME] and service.caption_names() == [DEMO_CAPTION_NAME]
    clip_bytes = (DEMO_ROOT / "CLIP" / "demo" / "shapes.safetensors").stat().st_size
    caption_bytes = sum(p.stat().st_size for p in (DEMO_ROOT / "BLIP" / "shapes").iterdir())
    assert clip_bytes < 20e6 and caption_bytes < 20e6


def test_prompt_captions_a_demo_picture(service: InterrogateService) -> None:
    image = render_pil(world.Scene("red", "circle", "blue", (0.5, 0.5), 0.25))
    assert service.prompt(image, DEMO_CLIP_NAME, "caption", DEMO_CAPTION_NAME) == "a red circle on a blue background"
    fast = service.prompt(image, DEMO_CLIP_NAME, "fast", DEMO_CAPTION_NAME)
    assert fast.startswith("a red circle on a blue background, ")


def test_caption_and_label_accuracy_on_24_fixed_demo_pictures(service: InterrogateService) -> None:
    scores = evaluate(service, eval_scenes()[:24])
    assert scores.pictures == 24
    assert scores.caption_colour >= 0.95 and scores.caption_background >= 0.95
    assert scores.caption_shape >= 0.7
    assert scores.label_colour >= 0.9 and scores.label_shape >= 0.75


@pytest.mark.slow
def test_caption_and_label_accuracy_on_96_fixed_demo_pictures(service: InterrogateService) -> None:
    scores = evaluate(service, eval_scenes())
    assert scores.pictures == 96
    assert scores.caption_colour >= 0.95 and scores.caption_background >= 0.95
    assert scores.caption_shape >= 0.6
    assert scores.label_colour >= 0.95 and scores.label_shape >= 0.8


def test_fresh_install_lists_the_demo_models(tmp_path: Path) -> None:
    from modules.cmd_args import parse_args
    from modules.runtime import build_runtime

    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--no-hashing"], environ={}))
    try:
        assert runtime.interrogator.clip_names() == [DEMO_CLIP_NAME]
        assert runtime.interrogator.resolve_caption(None) == DEMO_CAPTION_NAME
    finally:
        runtime.shutdown()


@pytest.mark.slow
def test_captions_of_pictures_the_demo_model_draws(service: InterrogateService) -> None:
    """24 pictures from the demo SD model (seed 1, CFG 3): measured colour 100 %, background 100 %,
    shape 54.2 % against what the judge reads from the pixels."""
    from modules.interrogate.demo_eval import evaluate_generated
    from modules.models.loader import load_checkpoint
    from modules.paths import DEMO_MODEL_FILE

    result = evaluate_generated(service, load_checkpoint(DEMO_MODEL_FILE))
    assert result["judged"] >= 20
    assert result["generated_caption_colour"] >= 90 and result["generated_caption_background"] >= 90
    assert result["generated_caption_shape"] >= 40
