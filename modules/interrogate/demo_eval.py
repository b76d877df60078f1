"""Measure the demo interrogation models on fixed pictures of the demo world.

    venv/bin/python -m modules.interrogate.demo_eval [--count 96]

Pictures: `world.scenes(2026, count)` over all 168 scenes (held-out ones included), rendered 64x64.
Caption accuracy: the demo captioner's sentence parsed as a world caption, each word checked.
Label ranking: Analyze with the colour words as labels (top = the shape's colour) and with the
shape words (top = the shape). Both run through the app's own service, as a user's request does.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modules.interrogate.demo_training import DEMO_CAPTION_NAME, DEMO_CLIP_NAME, eval_scenes, render_pil
from modules.training import world


@dataclass(frozen=True)
class DemoScores:
    """Fractions in [0, 1] over the evaluation pictures."""

    pictures: int
    caption_colour: float
    caption_shape: float
    caption_background: float
    caption_all: float
    label_colour: float
    label_shape: float

    def as_percent(self) -> dict[str, Any]:
        return {k: (round(v * 100, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _caption_words(caption: str) -> tuple[str, str, str] | None:
    try:
        return world.parse_caption(caption)
    except ValueError:
        return None


def evaluate(service: Any, scenes: Sequence[world.Scene] | None = None) -> DemoScores:
    """Caption and label-ranking accuracy of the demo models through `service`."""
    scenes = list(scenes or eval_scenes())
    colours, shapes = list(world.COLOURS), list(world.SHAPES)
    hits = {"colour": 0, "shape": 0, "background": 0, "all": 0, "label_colour": 0, "label_shape": 0}
    for scene in scenes:
        image = render_pil(scene)
        words = _caption_words(service.prompt(image, DEMO_CLIP_NAME, "caption", DEMO_CAPTION_NAME))
        if words is not None:
            got = dict(zip(("colour", "shape", "background"), words, strict=True))
            want = {"colour": scene.colour, "shape": scene.shape, "background": scene.background}
            for key in want:
                hits[key] += got[key] == want[key]
            hits["all"] += got == want
        by_colour = service.analyze(image, DEMO_CLIP_NAME, colours)["labels"]
        by_shape = service.analyze(image, DEMO_CLIP_NAME, shapes)["labels"]
        hits["label_colour"] += next(iter(by_colour)) == scene.colour
        hits["label_shape"] += next(iter(by_shape)) == scene.shape
    n = len(scenes)
    return DemoScores(n, hits["colour"] / n, hits["shape"] / n, hits["background"] / n, hits["all"] / n,
                      hits["label_colour"] / n, hits["label_shape"] / n)


def evaluate_generated(service: Any, checkpoint: Any, seeds: Sequence[int] = (1,), cfg_scale: float = 3.0,
                       steps: int = 20) -> dict[str, Any]:
    """Caption pictures the demo SD model draws (its 24 evaluation prompts) and compare each caption
    with what the judge reads from the picture's pixels (the drawing, not the prompt, is the truth)."""
    from PIL import Image

    from modules.training.euler_sampler import sample
    from modules.training.evaluate import eval_prompts
    from modules.training.judge import judge_image

    prompts = [(caption, seed) for caption, _unseen in eval_prompts() for seed in seeds]
    images = []
    for i in range(0, len(prompts), 12):
        chunk = prompts[i:i + 12]
        images += sample(checkpoint, [c for c, _ in chunk], [s for _, s in chunk], steps=steps, cfg_scale=cfg_scale)
    hits = {"colour": 0, "shape": 0, "background": 0, "all": 0}
    judged = 0
    for array in images:
        verdict = judge_image(array)
        if verdict.shape == "none":
            continue
        judged += 1
        words = _caption_words(service.prompt(Image.fromarray(array), DEMO_CLIP_NAME, "caption", DEMO_CAPTION_NAME))
        want = (verdict.colour, verdict.shape, verdict.background)
        if words is not None:
            for key, got, truth in zip(("colour", "shape", "background"), words, want, strict=True):
                hits[key] += got == truth
            hits["all"] += words == want
    return {"generated_pictures": len(images), "judged": judged,
            **{f"generated_caption_{k}": round(100 * v / max(judged, 1), 1) for k, v in hits.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from modules.interrogate.folders import InterrogateFolders
    from modules.interrogate.placement import ModelPlacement
    from modules.interrogate.service import InterrogateService
    from modules.interrogate.session import trimmed_term_lists

    p = argparse.ArgumentParser(description="Measure the demo CLIP and captioner.")
    p.add_argument("--count", type=int, default=96)
    p.add_argument("--models", default=None, help="folder with CLIP/ and BLIP/ (default: models-demo)")
    p.add_argument("--cache", default="/tmp/interrogate-eval-cache")
    p.add_argument("--generated", action="store_true",
                   help="also caption the demo SD model's own pictures (24 prompts, seed 1, CFG 3, Euler 20)")
    p.add_argument("--term-lines", type=int, default=200,
                   help="first N terms of each list (labels need none); 0: the full lists (106,570 terms)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from pathlib import Path

    from modules.hashing import sha256_file
    from modules.interrogate.folders import DEMO_ROOT

    root = Path(args.models) if args.models else DEMO_ROOT
    folders = InterrogateFolders(clip_dir=root / "none", caption_dir=root / "none", demo_root=root)
    lists = trimmed_term_lists(Path(args.cache) / "lists", args.term_lines) if args.term_lines else None
    service = InterrogateService(folders, Path(args.cache), ModelPlacement(torch.device("cpu")),
                                 lambda _n, path: sha256_file(path), term_lists=lists)
    scores = evaluate(service, eval_scenes(args.count)).as_percent()
    timing = service.last_timing
    if args.generated:
        from modules.models.loader import load_checkpoint
        from modules.paths import DEMO_MODEL_FILE

        scores.update(evaluate_generated(service, load_checkpoint(DEMO_MODEL_FILE)))
    print(json.dumps({**scores, "term_tables_s": round(timing.seconds, 2) if timing else None,
                      "term_tables_from_cache": timing.from_cache if timing else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
