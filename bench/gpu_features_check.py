"""CUDA check of the features that patch or wrap the model: LoRA, hires fix, ControlNet.

Full-size random-weight SD1.5 (original layout), fp16, through `Runtime.run`, in normal and
medvram modes (each in its own process: `--mode`). Checks: a LoRA changes the picture and the
base weights come back bit-identical; hires fix doubles the size; a ControlNet unit changes the
picture and weight 0 does not. Prints per-image seconds and peak VRAM as JSON lines.
`python bench/gpu_features_check.py --mode normal` (about a minute on one H200).
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

BASE = dict(prompt="a photo of a cat", steps=20, width=512, height=512, sampler_name="Euler", cfg_scale=7.0,
            seed=1, save_images=False, save_grid=False)


def _pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].convert("RGB"), dtype=np.int16)


def _timed(runtime, req) -> tuple[object, dict]:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = runtime.run(req)
    torch.cuda.synchronize()
    px = _pixels(result)
    return result, {"seconds": round(time.perf_counter() - t0, 3),
                    "peak_vram_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                    "size": list(result.images[0].size), "finite_mean": round(float(px.mean()), 2)}


def _unet_checksum(runtime) -> float:
    unet = runtime.models.current.unet
    return float(sum(p.detach().double().sum().item() for p in unet.parameters()))


def _write_controlnet(model, folder: Path) -> Path:
    """A full-size SD1.5 ControlNet in lllyasviel's layout: the UNet's encoder copied, the zero
    convolutions given small random weights (zero-initialised ones would change nothing)."""
    import copy

    from diffusers import ControlNetModel

    from tests.fixtures.tiny_controlnets import write_lllyasviel

    net = ControlNetModel.from_unet(copy.deepcopy(model.unet).float().cpu())
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding")):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return write_lllyasviel(net.half(), folder / "control_random.safetensors")


def main() -> None:
    from bench.gpu_check import write_checkpoint
    from modules.cmd_args import parse_args
    from modules.engine.request import GenerationRequest
    from modules.runtime import build_runtime
    from tests.fixtures.tiny_networks import write_lora

    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="normal", choices=("normal", "medvram"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/gpu-features"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = write_checkpoint("sd15", Path("/tmp/sd15-random.safetensors"))
    data = Path(f"/tmp/features-{args.mode}")
    flags = ["--data-dir", str(data), "--ckpt", str(ckpt), "--no-hashing", "--no-demo-model"]
    runtime = build_runtime(parse_args(flags + (["--medvram"] if args.mode == "medvram" else [])))
    report: dict = {"mode": args.mode}
    base = GenerationRequest(**BASE)
    runtime.run(base.with_changes(steps=2))  # load + warm-up
    model = runtime.models.current
    write_lora(data / "models" / "Lora", "rand", model, "lora", seed=1)
    checks = [("base", base), ("lora", base.with_changes(prompt=BASE["prompt"] + " <lora:rand:1>")),
              ("base_again", base),
              ("hires", base.with_changes(enable_hr=True, hr_scale=2.0, hr_upscaler="Latent",
                                          hr_second_pass_steps=10, denoising_strength=0.5))]
    cn = _write_controlnet(model, data / "models" / "ControlNet")
    if cn is not None:
        import base64
        import io

        from PIL import Image

        img = Image.new("RGB", (512, 512), "black")
        img.paste((255, 255, 255), (64, 64, 256, 256))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        b64 = base64.b64encode(buf.getvalue()).decode()
        for name, weight in (("controlnet", 1.0), ("controlnet_w0", 0.0)):
            unit = {"enabled": True, "image": b64, "module": "none", "model": cn.stem, "weight": weight}
            checks.append((name, base.with_changes(alwayson_scripts={"controlnet": {"args": [unit]}})))
    images = {}
    before = _unet_checksum(runtime)
    for name, req in checks:
        try:
            result, stats = _timed(runtime, req)
            images[name] = _pixels(result)
            report[name] = stats
            if result.comments:
                report[name]["comments"] = result.comments[:3]
        except Exception as err:  # keep going: one failing feature must not hide the others
            report[name] = {"error": f"{type(err).__name__}: {err}"[:500]}
    report["unet_weights_unchanged"] = _unet_checksum(runtime) == before

    def diff(a: str, b: str) -> float | None:
        if a in images and b in images and images[a].shape == images[b].shape:
            return float(np.abs(images[a] - images[b]).max())
        return None

    report["lora_vs_base_maxdiff"] = diff("lora", "base")
    report["base_repeat_maxdiff"] = diff("base_again", "base")
    report["controlnet_vs_base_maxdiff"] = diff("controlnet", "base")
    report["controlnet_w0_vs_base_maxdiff"] = diff("controlnet_w0", "base")
    print(json.dumps(report), flush=True)
    (args.out / f"features-{args.mode}.json").write_text(json.dumps(report, indent=2))
    runtime.shutdown()


if __name__ == "__main__":
    main()
