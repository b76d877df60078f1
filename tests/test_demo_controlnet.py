"""The shipped demo ControlNet through the user's path (Runtime -> queue -> engine): the shape is
drawn where the control image's white silhouette is, over several seeds and placements."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modules.cmd_args import parse_args
from modules.engine.request import GenerationRequest
from modules.training.controlnet_stage import silhouette
from modules.training.evaluate_controlnet import HIT_DISTANCE, control_scene, shape_centre
from modules.training.train_controlnet import DEMO_CONTROLNET

PLACEMENTS = ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7))
SCENE = ("red", "circle", "blue")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from modules.runtime import build_runtime

    assert DEMO_CONTROLNET.is_file(), "the demo ControlNet ships in models-demo/ControlNet/"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rt = build_runtime(parse_args(["--data-dir", str(tmp_path_factory.mktemp("demo-cn")), "--cpu"], environ={}))
    yield rt
    rt.shutdown()
    torch.set_num_threads(threads)


def test_the_demo_controlnet_is_listed_beside_the_demo_model(runtime) -> None:
    titles = runtime.controlnet.model_titles()
    assert any(t.startswith("control_demo-shapes_silhouette [") for t in titles)


def test_the_shape_follows_the_silhouette(runtime) -> None:
    title = runtime.controlnet.find_model(DEMO_CONTROLNET.stem).title
    hits, centres = 0, []
    for seed in (1, 2):
        for centre in PLACEMENTS:
            control = Image.fromarray(silhouette(control_scene(SCENE, centre)))
            unit = {"enabled": True, "module": "none", "model": title, "image": control}
            req = GenerationRequest(prompt="a red circle on a blue background", width=64, height=64, steps=20,
                                    cfg_scale=3.0, sampler_name="Euler", seed=seed, save_images=False,
                                    alwayson_scripts={"controlnet": {"args": [unit]}})
            found = shape_centre(runtime.run(req, timeout=300).images[0])
            centres.append(found)
            target = (centre[0] * 64, centre[1] * 64)
            hits += found is not None and np.hypot(found[0] - target[0], found[1] - target[1]) <= HIT_DISTANCE
    # Measured 100 % (see models-demo/MODEL_CARD.md); without the unit only centred shapes hit.
    assert hits >= 7, centres
