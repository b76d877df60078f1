"""Train the demo ControlNet (shape silhouette -> shape position) against the shipped demo model.

    nice venv/bin/python -m modules.training.train_controlnet --out /tmp/cn-run --threads 1 --minutes 15

The checkpoint is loaded through the app's own loader (the fp16 weights that ship), the ControlNet
starts as a copy of its UNet encoder, and the result is written in lllyasviel's original layout
(fp16 safetensors), as ControlNets are shared. `<out>/run.json` records steps and timings.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from modules.controlnet.original_layout import controlnet_to_original
from modules.paths import DEMO_MODEL_FILE
from modules.training.controlnet_stage import ControlNetSettings, load_or_build, train_controlnet
from modules.training.export import canonicalize_safetensors_header
from modules.training.stage_loop import StageBudget

DEMO_CONTROLNET = DEMO_MODEL_FILE.parent / "ControlNet" / "control_demo-shapes_silhouette.safetensors"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the demo silhouette ControlNet.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path, default=DEMO_MODEL_FILE)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float)
    budget.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--per-key", type=int, default=12)
    p.add_argument("--export", type=Path, help="output file (default: <out>/<demo ControlNet name>)")
    args = p.parse_args(argv)
    if args.minutes is None and args.steps is None:
        args.minutes = 15.0
    return args


def export_controlnet(controlnet: torch.nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    weights = controlnet_to_original({k: v.half() for k, v in controlnet.state_dict().items()}, controlnet.config)
    save_file(dict(sorted(weights.items())), str(path), metadata={"format": "pt"})
    canonicalize_safetensors_header(path)
    return path


def main(argv: Sequence[str] | None = None) -> Path:
    from diffusers import ControlNetModel

    from modules.models.loader import load_checkpoint

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    model = load_checkpoint(args.checkpoint)
    settings = ControlNetSettings(seed=args.seed, batch=args.batch, lr=args.lr, per_key=args.per_key)
    bundle = model.text_encoders[0]
    data = load_or_build(args.out, model.vae, bundle.tokenizer, model.vae_scaling_factor, args.seed, args.per_key)
    torch.manual_seed(args.seed)
    controlnet = ControlNetModel.from_unet(model.unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
    budget = StageBudget(steps=args.steps, minutes=args.minutes)
    trained_at = time.monotonic()
    train_controlnet(controlnet, model.unet, bundle.model, data, model.alphas_cumprod, args.out, settings, budget,
                     args.resume)
    out = export_controlnet(controlnet, args.export or args.out / DEMO_CONTROLNET.name)
    (args.out / "run.json").write_text(json.dumps({
        "argv": list(argv) if argv is not None else None, "samples": len(data),
        "training_minutes": round((time.monotonic() - trained_at) / 60, 2),
        "total_minutes": round((time.monotonic() - began) / 60, 2),
        "parameters": sum(p.numel() for p in controlnet.parameters()), "export": str(out)}, indent=2))
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
