"""Train the shipped demo model from scratch: VAE, then UNet + text encoder, then export.

Run (the shipped model's command is in models-demo/MODEL_CARD.md):

    venv/bin/python -m modules.training.train_demo --out /work/train-scratch/run \
        --minutes-vae 12 --minutes-unet 40 [--resume] [--device cpu|cuda] [--threads 1]

Everything is seeded (weight init, data, noise); minutes are turned into step counts after timing
the first steps and recorded in <out>/run.json, so `--steps-vae A --steps-unet B` repeats a run
exactly. States are saved every few minutes; `--resume` continues an interrupted run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from modules.training import architecture as arch_mod
from modules.training.stage_loop import StageBudget

RUN_FILE = "run.json"
CHECKPOINT_NAME = "demo-shapes.safetensors"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the demo-shapes model (SD1.x layout) from scratch.")
    p.add_argument("--out", type=Path, required=True, help="folder for states, latents, logs and the result")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy shared CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch", choices=("demo", "tiny"), default="demo", help="tiny: test-sized model")
    vae = p.add_mutually_exclusive_group()
    vae.add_argument("--minutes-vae", type=float)
    vae.add_argument("--steps-vae", type=int)
    unet = p.add_mutually_exclusive_group()
    unet.add_argument("--minutes-unet", type=float)
    unet.add_argument("--steps-unet", type=int)
    p.add_argument("--batch-vae", type=int, default=16)
    p.add_argument("--batch-unet", type=int, default=64)
    p.add_argument("--lr-unet", type=float, default=1e-3, help="peak learning rate of the UNet stage")
    p.add_argument("--high-noise-fraction", type=float, default=0.0,
                   help="share of each UNet batch trained at timesteps >= 800 (helps captions set colours)")
    p.add_argument("--per-key", type=int, default=24, help="cached placements per training scene")
    p.add_argument("--save-every-minutes", type=float, default=3.0)
    p.add_argument("--export", type=Path, help=f"checkpoint path (default: <out>/{CHECKPOINT_NAME})")
    args = p.parse_args(argv)
    if args.minutes_vae is None and args.steps_vae is None:
        args.minutes_vae = 12.0
    if args.minutes_unet is None and args.steps_unet is None:
        args.minutes_unet = 40.0
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda was asked for but torch sees no CUDA device; use --device cpu.")
    return args


def _check_out_dir(out: Path, resume: bool) -> None:
    from modules.training.unet_stage import STATE_FILE as UNET_STATE
    from modules.training.vae_stage import STATE_FILE as VAE_STATE

    existing = [n for n in (VAE_STATE, UNET_STATE, RUN_FILE) if (out / n).exists()]
    if existing and not resume:
        raise SystemExit(f"'{out}' already holds a run ({', '.join(existing)}); pass --resume to continue it "
                         "or choose an empty --out folder.")
    out.mkdir(parents=True, exist_ok=True)


def _build(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    torch.manual_seed(args.seed)
    arch = arch_mod.TINY if args.arch == "tiny" else arch_mod.DEMO
    vae, unet, text = arch_mod.build_vae(arch), arch_mod.build_unet(arch), arch_mod.build_text_encoder(arch)
    return vae.to(args.device), unet.to(args.device), text.to(args.device)


def _read_run(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write_run(out: Path, record: dict[str, Any]) -> None:
    (out / RUN_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")


def _planned_steps(out: Path, name: str) -> int | None:
    from modules.training.state_files import load_state

    path = out / f"{name}_state.pt"
    return int(load_state(path)["total"]) if path.is_file() else None


def run(args: argparse.Namespace) -> Path:
    """Train (or resume) the whole pipeline; returns the exported checkpoint path."""
    from modules.text.clip_tokenizer import load_clip_tokenizer
    from modules.training.export import export_checkpoint
    from modules.training.latent_cache import load_or_encode
    from modules.training.unet_stage import UnetSettings, train_unet
    from modules.training.vae_stage import VaeSettings, train_vae

    out = Path(args.out)
    _check_out_dir(out, args.resume)
    record = _read_run(out)
    record.setdefault("invocations", []).append({k: str(v) for k, v in vars(args).items()})
    vae, unet, text = _build(args)
    save_s = args.save_every_minutes * 60
    t0 = time.monotonic()
    train_vae(vae, out, VaeSettings(seed=args.seed, batch=args.batch_vae, device=args.device),
              StageBudget(args.steps_vae, args.minutes_vae, save_s), args.resume)
    record.setdefault("seconds", {})["vae"] = record.get("seconds", {}).get("vae", 0) + time.monotonic() - t0
    record["steps_vae"] = _planned_steps(out, "vae")
    _write_run(out, record)
    t1 = time.monotonic()
    data = load_or_encode(out, vae, load_clip_tokenizer(), args.seed, args.per_key, device=args.device)
    record["scale_factor"], record["dataset_size"] = data.scale_factor, len(data)
    settings = UnetSettings(seed=args.seed, batch=args.batch_unet, device=args.device, lr=args.lr_unet,
                            high_noise_fraction=args.high_noise_fraction)
    budget = StageBudget(args.steps_unet, args.minutes_unet, save_s)
    train_unet(unet, text, data, out, settings, budget, args.resume)
    record["seconds"]["unet"] = record["seconds"].get("unet", 0) + time.monotonic() - t1
    record["steps_unet"] = _planned_steps(out, "unet")
    phases = record.setdefault("unet_phases", [])
    if not phases or phases[-1]["until_step"] != record["steps_unet"]:
        phases.append({"until_step": record["steps_unet"], "lr": args.lr_unet,
                       "high_noise_fraction": args.high_noise_fraction})
    parts = (("vae", vae), ("unet", unet), ("text", text))
    record["parameters"] = {n: arch_mod.parameter_count(m) for n, m in parts}
    meta = {"demo.steps_vae": str(record["steps_vae"]), "demo.steps_unet": str(record["steps_unet"]),
            "demo.seed": str(args.seed)}
    path = export_checkpoint(args.export or out / CHECKPOINT_NAME, unet=unet.cpu(), vae=vae.cpu(),
                             text_encoder=text.cpu(), scale_factor=data.scale_factor, metadata=meta)
    record["checkpoint"], record["checkpoint_bytes"] = str(path), path.stat().st_size
    _write_run(out, record)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = run(args)
    print(f"wrote {path} and {path.with_suffix('.yaml')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
