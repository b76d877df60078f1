"""Measure whether the demo ControlNet puts the shape where the silhouette says, through the app's engine.

Run: `venv/bin/python -m modules.training.evaluate_controlnet [--controlnet FILE] [--seeds 1 2 3]`.
For each seed and each of a fixed set of placements (the four quadrants and the centre), a
silhouette is drawn, the demo model generates "a <colour> <shape> on a <colour> background" with
the ControlNet unit on (module "none", weight 1), and the shape's centre is read from the pixels
(pixels far from the border colour). A hit is a centre within 8 px (1/8 of the side) of the
silhouette's. The same is measured without the unit, as the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modules.training import judge, world
from modules.training.controlnet_stage import silhouette

PLACEMENTS: tuple[tuple[float, float], ...] = ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7), (0.5, 0.5))
SCENES: tuple[tuple[str, str, str], ...] = (("red", "circle", "blue"), ("yellow", "square", "purple"),
                                            ("white", "triangle", "green"))
HIT_DISTANCE = 8.0


@dataclass
class Trial:
    seed: int
    scene: tuple[str, str, str]
    target: tuple[float, float]  # pixels
    found: tuple[float, float] | None
    found_without: tuple[float, float] | None
    colours_ok: bool = False  # background and shape colour as the caption says (judge.py)
    shape_ok: bool = False

    @staticmethod
    def _hit(found: tuple[float, float] | None, target: tuple[float, float]) -> bool:
        return found is not None and float(np.hypot(found[0] - target[0], found[1] - target[1])) <= HIT_DISTANCE

    @property
    def hit(self) -> bool:
        return self._hit(self.found, self.target)

    @property
    def hit_without(self) -> bool:
        return self._hit(self.found_without, self.target)


def shape_centre(image: Image.Image) -> tuple[float, float] | None:
    """Centroid (x, y) of the pixels far from the picture's border colour (None: no shape)."""
    px = np.asarray(image.convert("RGB"), dtype=np.float32)
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    background = np.median(border, axis=0)
    far = np.linalg.norm(px - background, axis=2) > 80
    if far.sum() < 20:
        return None
    ys, xs = np.nonzero(far)
    return float(xs.mean()), float(ys.mean())


def control_scene(key: tuple[str, str, str], centre: tuple[float, float]) -> world.Scene:
    return world.Scene(*key, centre=centre, half_size=12 / 64)


def run_trials(ctx: Any, service: Any, model_title: str, seeds: Sequence[int], size: int = 64) -> list[Trial]:
    """Every (seed, scene, placement) with and without the unit, through `generate`."""
    from modules.controlnet.feature import ControlNetFeature
    from modules.engine.generate import generate
    from modules.engine.request import GenerationRequest

    with_unit = dataclasses.replace(ctx, features=(ControlNetFeature(service),))
    trials = []
    for seed in seeds:
        for key in SCENES:
            for centre in PLACEMENTS:
                control = Image.fromarray(silhouette(control_scene(key, centre), size))
                base = dict(prompt=world.caption_for(*key), width=size, height=size, steps=20, cfg_scale=3.0,
                            sampler_name="Euler", seed=seed, save_images=False)
                unit = {"enabled": True, "module": "none", "model": model_title, "image": control,
                        "resize_mode": "Just Resize"}
                on = generate(GenerationRequest(alwayson_scripts={"controlnet": {"args": [unit]}}, **base), with_unit)
                off = generate(GenerationRequest(**base), ctx)
                target = (centre[0] * size, centre[1] * size)
                verdict = judge.score(on.images[0], world.caption_for(*key))
                trials.append(Trial(seed, key, target, shape_centre(on.images[0]), shape_centre(off.images[0]),
                                    verdict.background_ok and verdict.colour_ok, verdict.shape_ok))
    return trials


def summary(trials: Sequence[Trial]) -> str:
    n = len(trials)
    hits = sum(t.hit for t in trials)
    base = sum(t.hit_without for t in trials)
    errors = [float(np.hypot(t.found[0] - t.target[0], t.found[1] - t.target[1])) for t in trials if t.found]
    return (f"{n} pictures: shape centre within {HIT_DISTANCE:.0f} px of the silhouette's in {hits}/{n} "
            f"({100.0 * hits / max(1, n):.1f} %) with the ControlNet, {base}/{n} without; "
            f"median distance {np.median(errors) if errors else float('nan'):.1f} px; colours right in "
            f"{sum(t.colours_ok for t in trials)}/{n}, shape right in {sum(t.shape_ok for t in trials)}/{n}")


def main(argv: Sequence[str] | None = None) -> None:
    import torch

    from modules.controlnet.register import DEMO_CONTROLNET_DIR
    from modules.controlnet.service import ControlNetService
    from modules.engine.context import EngineContext
    from modules.models.loader import load_checkpoint
    from modules.paths import DEMO_MODEL_FILE
    from modules.samplers.registry import SamplerRegistry
    from modules.settings.store import SettingsStore

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=DEMO_MODEL_FILE)
    p.add_argument("--controlnet-dir", type=Path, default=DEMO_MODEL_FILE.parent / DEMO_CONTROLNET_DIR)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/sdui-eval-controlnet"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = load_checkpoint(args.checkpoint)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = EngineContext(model=model, model_name=args.checkpoint.stem, model_hash=None,
                        settings=SettingsStore(args.data_dir / "config.json").view({}), samplers=SamplerRegistry(),
                        data_dir=args.data_dir, device=torch.device("cpu"))
    service = ControlNetService([args.controlnet_dir], args.data_dir / "annotator")
    title = service.models()[0].title
    print(summary(run_trials(ctx, service, title, args.seeds)))


if __name__ == "__main__":
    main()
