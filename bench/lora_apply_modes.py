"""LoRA applied by merging into the weights vs by forward hooks, on the CPU (one thread).

    nice venv/bin/python bench/lora_apply_modes.py

1. The demo model with the shipped demo LoRA: one txt2img job (Euler, 20 steps, 64x64) without a
   LoRA, with it merged, and with it hooked; plus the merge's own apply+restore cost per job.
2. One SD1-sized attention projection (1280x1280, 1024 tokens = a 32x32 latent) with a rank-16
   LoRA: the per-call cost of the plain layer, the merged layer (the same), the low-rank hook
   (plain LoRA on a linear layer) and a dense-delta hook (what the other formats use).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _request(prompt: str):
    from modules.engine.request import GenerationRequest

    return GenerationRequest(prompt=prompt, seed=1, width=64, height=64, steps=20, cfg_scale=3,
                             sampler_name="Euler", save_images=False)


def demo_jobs() -> None:
    from modules.engine.generate import generate
    from modules.models.patches import applied
    from modules.networks.feature import NetworksFeature, to_seam_patches
    from modules.networks.job import NetworkJob
    from modules.networks.services import build_network_services
    from modules.paths import DEMO_MODEL_FILE
    from modules.text.extra_networks import parse_prompt_extra_networks
    from tests.engine_helpers import engine_context, load_cpu_model

    model = load_cpu_model(DEMO_MODEL_FILE)
    services = build_network_services([ROOT / "models-demo" / "Lora"], None)
    for mode in ("merge", "hooks"):
        ctx = engine_context(DEMO_MODEL_FILE, Path("/tmp/bench-lora"), {"lora_apply_mode": mode}, model=model)
        ctx.features = (NetworksFeature(services),)
        plain = _best(lambda c=ctx: generate(_request("a red ring on a blue background"), c), 3)
        lora = _best(lambda c=ctx: generate(_request("a red ring on a blue background <lora:demo-ring:1>"), c), 3)
        print(f"demo job, {mode}: no LoRA {plain:.3f} s, with LoRA {lora:.3f} s ({(lora / plain - 1) * 100:+.0f} %)")
    job = NetworkJob(model)
    services.registry.activate(parse_prompt_extra_networks("<lora:demo-ring:1>")[1], job)

    parts = {"unet": model.unet, "text_encoders": model.text_encoders}
    seam = to_seam_patches(job.patches, model, "merge")

    def apply_restore() -> None:
        with applied(parts, [seam]):
            pass

    print(f"merge apply+restore of {len(job.patches)} layers: {_best(apply_restore) * 1000:.1f} ms per job")


def big_layer() -> None:
    from modules.models import patches as seam
    from modules.networks.feature import _delta_wrapper
    from modules.networks.patching import LayerPatch

    torch.manual_seed(0)
    layer = torch.nn.Linear(1280, 1280)
    x = torch.randn(2, 1024, 1280)
    down, up = torch.randn(16, 1280) * 0.01, torch.randn(1280, 16) * 0.01
    parts = {"layer": layer}
    merge = seam.PatchSet("merge", weight_deltas=(seam.WeightDelta("layer", "weight", up @ down),))
    hooks = seam.PatchSet("hooks", wrappers=(seam.ForwardWrapper("layer", "", _delta_wrapper(
        LayerPatch(layer, None, factors=[(down, up)]))),))
    dense = seam.PatchSet("dense hooks", wrappers=(seam.ForwardWrapper("layer", "", _delta_wrapper(
        LayerPatch(layer, up @ down))),))
    with torch.no_grad():
        plain = statistics.median(_best(lambda: layer(x)) for _ in range(3))
        with seam.applied(parts, [merge]):
            merged = _best(lambda: layer(x))
        with seam.applied(parts, [hooks]):
            hooked = _best(lambda: layer(x))
        with seam.applied(parts, [dense]):
            dense_hooked = _best(lambda: layer(x))
    extra_mb = layer.weight.numel() * 4 / 2**20
    print(f"1280x1280 layer, 2x1024 tokens, rank-16 LoRA: plain {plain * 1000:.1f} ms, merged {merged * 1000:.1f} ms, "
          f"hooked (low-rank) {hooked * 1000:.1f} ms, hooked (dense delta, LyCORIS formats) "
          f"{dense_hooked * 1000:.1f} ms; merge keeps a {extra_mb:.1f} MiB copy of the weight, low-rank hooks "
          f"{(down.numel() + up.numel()) * 4 / 2**20:.2f} MiB")


if __name__ == "__main__":
    torch.set_num_threads(1)
    big_layer()
    demo_jobs()
