"""CUDA/fp16 check of the product's path on full-size random-weight SD1.5 and SDXL checkpoints.

Writes both checkpoints in the original single-file layout (random fp16 weights), then runs
txt2img and img2img through `Runtime.run` (the queue -> engine path the UI and API use) in
normal and medvram modes, printing per-image time, peak VRAM and whether the pixels are finite.
Needs a CUDA machine: `python bench/gpu_check.py --out /tmp/gpu-check` (about 5 minutes on one H200).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _random_fp16(factory, seed: int) -> torch.nn.Module:
    """Build on the meta device, fill with small random fp16 values on the GPU (fast), back to CPU."""
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cuda").to(torch.float16)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, device="cuda") * 0.02)
        for buf_name, buf in module.named_buffers():
            if "position_ids" in buf_name:
                buf.copy_(torch.arange(buf.shape[-1], device="cuda").expand_as(buf))
    return module.cpu().eval()


def _clip(width: int, layers: int, heads: int, inter: int, act: str, proj: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(hidden_size=width, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, max_position_embeddings=77, hidden_act=act,
                         projection_dim=1280 if proj else 768, bos_token_id=49406, eos_token_id=49407,
                         pad_token_id=0 if proj else 49407)
    return (CLIPTextModelWithProjection if proj else CLIPTextModel)(cfg)


def write_checkpoint(family_name: str, path: Path) -> Path:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from modules.models.configs import (
        DEFAULT_CONFIGS_DIR,
        load_model_config,
        unet_diffusers_config,
        vae_diffusers_config,
    )
    from modules.models.original_layout import save_original_checkpoint
    from modules.models.sd_model import ModelFamily

    family = ModelFamily.SD1 if family_name == "sd15" else ModelFamily.SDXL
    yaml = "v1-inference.yaml" if family_name == "sd15" else "sd_xl_base.yaml"
    cfg = load_model_config(DEFAULT_CONFIGS_DIR / yaml)
    unet = _random_fp16(lambda: UNet2DConditionModel(**unet_diffusers_config(cfg, family)), 0)
    vae = _random_fp16(lambda: AutoencoderKL(**vae_diffusers_config(cfg)), 1)
    if family_name == "sd15":
        encoders = [_random_fp16(lambda: _clip(768, 12, 12, 3072, "quick_gelu", False), 2)]
    else:
        encoders = [_random_fp16(lambda: _clip(768, 12, 12, 3072, "quick_gelu", False), 2),
                    _random_fp16(lambda: _clip(1280, 32, 20, 5120, "gelu", True), 3)]
    return save_original_checkpoint(path, unet=unet, vae=vae, text_encoders=encoders, family=family)


def run_mode(ckpt: Path, data_dir: Path, mode: str, size: int, steps: int) -> dict:
    from modules.cmd_args import parse_args
    from modules.engine.request import GenerationRequest
    from modules.runtime import build_runtime

    flags = ["--data-dir", str(data_dir), "--ckpt", str(ckpt), "--no-hashing", "--no-demo-model"]
    if mode == "medvram":
        flags.append("--medvram")
    runtime = build_runtime(parse_args(flags))
    out: dict = {"mode": mode, "size": size, "steps": steps}
    try:
        base = GenerationRequest(prompt="a photo of a cat", steps=steps, width=size, height=size,
                                 sampler_name="Euler", cfg_scale=7.0, seed=1, save_images=False, save_grid=False)
        runtime.run(base.with_changes(steps=2))  # warm-up (load, cudnn autotune)
        for label, req in (("txt2img", base),):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            result = runtime.run(req)
            torch.cuda.synchronize()
            out[label] = _stats(result, t0)
        init = result.images[0]
        req = base.with_changes(mode="img2img", init_images=(init,), denoising_strength=0.6)
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        result = runtime.run(req)
        torch.cuda.synchronize()
        out["img2img"] = _stats(result, t0)
        out["unet_device_after"] = str(runtime.models.device_of("unet"))
    except Exception as err:  # report and go on: one failing mode must not hide the others
        import traceback

        out["error"] = f"{type(err).__name__}: {err}"
        out["traceback"] = traceback.format_exc()[-3000:]
    finally:
        runtime.shutdown()
        del runtime
        torch.cuda.empty_cache()
    return out


def _stats(result, t0: float) -> dict:
    arr = np.asarray(result.images[0].convert("RGB"), dtype=np.float32)
    return {"seconds": round(time.perf_counter() - t0, 3),
            "peak_vram_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "resident_after_gib": round(torch.cuda.memory_allocated() / 2**30, 2),
            "finite": bool(np.isfinite(arr).all()), "mean": round(float(arr.mean()), 2),
            "std": round(float(arr.std()), 2), "size": list(result.images[0].size)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/gpu-check"))
    ap.add_argument("--families", default="sd15,sdxl")
    ap.add_argument("--modes", default="normal,medvram", help="run each mode in its own process for clean peaks")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("torch", torch.__version__, torch.cuda.get_device_name(0), flush=True)
    results = []
    for fam in args.families.split(","):
        t0 = time.perf_counter()
        ckpt = write_checkpoint(fam, Path("/tmp") / f"{fam}-random.safetensors")
        print(f"{fam}: wrote {ckpt} in {time.perf_counter() - t0:.1f}s", flush=True)
        size = 512 if fam == "sd15" else 1024
        for mode in args.modes.split(","):
            res = run_mode(ckpt, Path("/tmp") / f"data-{fam}-{mode}", mode, size, 20)
            res["family"] = fam
            print(json.dumps(res), flush=True)
            results.append(res)
    (args.out / f"gpu_check-{args.modes.replace(',', '-')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
