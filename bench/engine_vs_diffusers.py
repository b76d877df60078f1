"""Time the engine's txt2img against stock diffusers on the same checkpoint, same run, same machine.

    venv/bin/python bench/engine_vs_diffusers.py [--size 128] [--steps 20] [--repeats 3] [--device cpu]

Builds a tiny random-weight SD1 checkpoint (the test fixture) unless `--ckpt` is given, loads it
through the product's loader, then runs (a) the engine's full txt2img path (conditioning, CFG
denoiser, Euler sampler, VAE decode) and (b) `StableDiffusionPipeline` built from the same
modules with the equivalent scheduler. Per-step time is (t(steps) - t(1)) / (steps - 1), which
cancels the fixed costs (text encoding, decode). Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.engine.generate import generate  # noqa: E402
from modules.engine.request import GenerationRequest  # noqa: E402
from modules.engine.sampling import discrete_schedule  # noqa: E402
from tests.engine_helpers import engine_context  # noqa: E402


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    if args.ckpt is None:
        from modules.models.sd_model import ModelFamily
        from tests.fixtures.tiny_models import make_tiny_checkpoint

        args.ckpt = make_tiny_checkpoint(ModelFamily.SD1, tmp / "tiny.safetensors")
    ctx = engine_context(args.ckpt, tmp)
    model = ctx.model
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    enc = model.text_encoders[0]
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   prediction_type=model.prediction_type, timestep_spacing="linspace")
    pipe = StableDiffusionPipeline(vae=model.vae, text_encoder=enc.model, tokenizer=enc.tokenizer, unet=model.unet,
                                   scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)

    def ours(steps: int):
        req = GenerationRequest(prompt="a red circle", seed=1, steps=steps, width=args.size, height=args.size,
                                cfg_scale=7.0, sampler_name="Euler", save_images=False)
        return lambda: generate(req, ctx)

    def stock(steps: int):
        sigmas = discrete_schedule(model).get_sigmas(steps)[:-1].tolist()
        return lambda: pipe("a red circle", num_inference_steps=steps, guidance_scale=7.0, height=args.size,
                            width=args.size, generator=torch.Generator().manual_seed(1), sigmas=sigmas,
                            output_type="np")

    rows = {}
    for name, make in (("engine", ours), ("diffusers", stock)):
        t_full = _median_time(make(args.steps), args.repeats)
        t_one = _median_time(make(1), args.repeats)
        rows[name] = {"total_s": t_full, "per_step_ms": 1000 * (t_full - t_one) / (args.steps - 1)}
    ratio = rows["diffusers"]["per_step_ms"] / rows["engine"]["per_step_ms"]
    print(f"{'path':<10} {'total s':>9} {'per step ms':>12}")
    for name, r in rows.items():
        print(f"{name:<10} {r['total_s']:>9.3f} {r['per_step_ms']:>12.2f}")
    print(f"speed ratio (diffusers per-step / engine per-step): {ratio:.3f}  (>1 means the engine is faster)")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    result = {"device": "cpu", "size": args.size, "steps": args.steps, "threads": torch.get_num_threads(),
              "rows": rows, "ratio": ratio}
    (out / "engine_vs_diffusers_cpu.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
