"""Train the shipped demo CLIP and demo captioner on the demo model's world, then measure them.

    venv/bin/python -m modules.interrogate.demo_training --out models-demo --threads 1 \
        --clip-steps 1500 --blip-steps 1200

Data: `modules.training.world` pictures (64x64, random placement and size) of the training scenes;
the 8 held-out scenes are never shown. The CLIP learns from several texts per picture (the full
caption, "a red circle", "red", "circle", "blue background", ...) with a contrastive loss whose
targets are every text consistent with a picture, so single words rank as labels ("red" = the
shape's colour). The captioner (BLIP format) learns the full caption. Everything is seeded.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modules.interrogate import demo_models as dm
from modules.training import world
from modules.training.stage_loop import lr_at, step_seed

Spec = tuple[str | None, str | None, str | None]  # (shape colour, shape, background); None = any
CLIP_TAG = "shapes"
DEMO_CLIP_NAME = "demo/shapes"
DEMO_CAPTION_NAME = "demo/shapes"
EVAL_SEED = 2026
EVAL_COUNT = 96
POOL_SIZE = 4000


def text_variants(key: tuple[str, str, str]) -> list[tuple[str, Spec]]:
    """Texts that describe a scene, each with what it pins down."""
    c, s, b = key
    return [
        (world.caption_for(c, s, b), (c, s, b)),
        (f"a {c} {s}", (c, s, None)),
        (f"{c} {s}", (c, s, None)),
        (c, (c, None, None)),
        (f"a {c} shape", (c, None, None)),
        (s, (None, s, None)),
        (f"a {s}", (None, s, None)),
        (f"a {s} on a {b} background", (None, s, b)),
        (f"{b} background", (None, None, b)),
    ]


def matches(spec: Spec, key: tuple[str, str, str]) -> bool:
    return all(want is None or want == have for want, have in zip(spec, key, strict=True))


def render_pil(scene: world.Scene) -> Image.Image:
    return Image.fromarray(world.render(scene))


@dataclass
class PicturePool:
    """Pre-rendered, preprocessed training pictures (rendering every step would cost more than training)."""

    pixels: torch.Tensor
    keys: list[tuple[str, str, str]]

    @classmethod
    def build(cls, preprocess: Callable[[list[Image.Image]], torch.Tensor], count: int, seed: int) -> PicturePool:
        scenes = world.scenes(seed, count)
        return cls(preprocess([render_pil(sc) for sc in scenes]), [sc.key for sc in scenes])

    def sample(self, rng: random.Random, batch: int) -> tuple[torch.Tensor, list[tuple[str, str, str]]]:
        index = [rng.randrange(len(self.keys)) for _ in range(batch)]
        return self.pixels[index], [self.keys[i] for i in index]


def _pick_text(rng: random.Random, key: tuple[str, str, str], shape_bias: float) -> tuple[str, Spec]:
    variants = text_variants(key)
    if rng.random() < shape_bias:  # shape-only texts: the hardest thing for a tiny CLIP to learn
        variants = [v for v in variants if v[1][0] is None and v[1][2] is None]
    return rng.choice(variants)


def clip_batch(pool: PicturePool, tokenizer: Any, seed: int, batch: int,
               shape_bias: float = 0.0) -> tuple[torch.Tensor, ...]:
    """Seeded (pictures, texts, soft targets): each picture with one of its texts."""
    rng = random.Random(seed)
    pixels, keys = pool.sample(rng, batch)
    texts = [_pick_text(rng, key, shape_bias) for key in keys]
    targets = torch.tensor([[float(matches(spec, key)) for _, spec in texts] for key in keys])
    return pixels, tokenizer([t for t, _ in texts]), targets


def clip_loss(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor,
              targets: torch.Tensor) -> torch.Tensor:
    """Contrastive loss with every consistent text (picture) as a positive, both directions."""
    img = F.normalize(model.encode_image(images), dim=-1)
    txt = F.normalize(model.encode_text(tokens), dim=-1)
    logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
    to_text = -(F.log_softmax(logits, dim=1) * targets / targets.sum(1, keepdim=True)).sum(1).mean()
    to_image = -(F.log_softmax(logits.T, dim=1) * targets.T / targets.T.sum(1, keepdim=True)).sum(1).mean()
    return (to_text + to_image) / 2


def train_clip(out: Path, steps: int, seed: int = 0, lr: float = 2e-3, batch: int = 32,
               init: Path | None = None, shape_bias: float = 0.0, stage: str = "clip") -> tuple[Path, float]:
    """Train (or, from `init`, keep training) and save the demo CLIP; returns (file, seconds)."""
    from open_clip.tokenizer import SimpleTokenizer
    from open_clip.transform import PreprocessCfg, image_transform_v2

    config = dm.clip_config()
    model = dm.build_clip(config, seed)
    if init is not None:
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() for k, v in load_file(str(init)).items()})
    transform = image_transform_v2(PreprocessCfg(size=64), is_train=False)
    pool = PicturePool.build(lambda images: torch.stack([transform(i) for i in images]), POOL_SIZE, seed)
    tokenizer = SimpleTokenizer(context_length=config["text_cfg"]["context_length"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=100)
        loss = clip_loss(model, *clip_batch(pool, tokenizer, step_seed(seed, stage, step), batch, shape_bias))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"{stage} step {step}/{steps} loss {loss.item():.4f} {time.perf_counter() - start:.0f}s", flush=True)
    seconds = time.perf_counter() - start
    return dm.save_clip(model.eval(), config, out / "CLIP" / "demo", CLIP_TAG), seconds


def weighted_caption_loss(logits: torch.Tensor, labels: torch.Tensor, shape_ids: torch.Tensor,
                          shape_weight: float) -> torch.Tensor:
    """Next-token cross-entropy with the shape word counted `shape_weight` times (the hard word)."""
    target = labels[:, 1:]
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), target, ignore_index=-100, reduction="none")
    weight = torch.where(torch.isin(target, shape_ids), shape_weight, 1.0) * (target != -100)
    return (per_token * weight).sum() / weight.sum()


def train_blip(out: Path, steps: int, seed: int = 0, lr: float = 1e-3, batch: int = 32,
               init: Path | None = None, stage: str = "blip", shape_weight: float = 1.0) -> tuple[Path, float]:
    """Train (or, from the `init` folder, keep training) and save the demo captioner; returns (folder, seconds)."""
    from transformers import BlipForConditionalGeneration

    folder = out / "BLIP" / "shapes"
    processor = dm.blip_processor(folder)
    if init is None:
        model = dm.build_blip(processor, seed=seed)
    else:
        model = BlipForConditionalGeneration.from_pretrained(init, local_files_only=True, dtype=torch.float32)
    model.train()
    pool = PicturePool.build(lambda images: processor(images=images, return_tensors="pt")["pixel_values"],
                             POOL_SIZE, seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    bos = model.config.text_config.bos_token_id
    shape_ids = torch.tensor(processor.tokenizer.convert_tokens_to_ids(list(world.SHAPES)))
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=100)
        rng = random.Random(step_seed(seed, stage, step))
        pixels, keys = pool.sample(rng, batch)
        enc = processor.tokenizer([world.caption_for(*key) for key in keys], return_tensors="pt", padding=True)
        ids = enc["input_ids"].clone()
        ids[:, 0] = bos
        labels = ids.masked_fill(enc["attention_mask"] == 0, -100)
        if shape_weight == 1.0:
            loss = model(pixel_values=pixels, input_ids=ids, attention_mask=enc["attention_mask"], labels=labels).loss
        else:
            logits = model(pixel_values=pixels, input_ids=ids, attention_mask=enc["attention_mask"]).logits
            loss = weighted_caption_loss(logits, labels, shape_ids, shape_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"{stage} step {step}/{steps} loss {loss.item():.4f} {time.perf_counter() - start:.0f}s", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    model.to(torch.float16)
    return dm.save_blip(model, processor, folder), seconds


def eval_scenes(count: int = EVAL_COUNT, seed: int = EVAL_SEED) -> list[world.Scene]:
    """The fixed evaluation pictures: all scenes (held-out ones included), seeded placement."""
    return world.scenes(seed, count, keys=world.all_scene_keys())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the demo CLIP and captioner for the Interrogate tab.")
    p.add_argument("--out", type=Path, required=True, help="folder that receives CLIP/ and BLIP/")
    p.add_argument("--clip-steps", type=int, default=1500)
    p.add_argument("--blip-steps", type=int, default=1200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=("clip", "blip"), default=None)
    p.add_argument("--clip-init", type=Path, default=None, help="continue from these CLIP weights")
    p.add_argument("--shape-bias", type=float, default=0.0, help="share of shape-only texts in CLIP batches")
    p.add_argument("--clip-lr", type=float, default=2e-3)
    p.add_argument("--blip-init", type=Path, default=None, help="continue from this captioner folder")
    p.add_argument("--blip-lr", type=float, default=1e-3)
    p.add_argument("--blip-shape-weight", type=float, default=1.0, help="loss weight of the shape word")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    record: dict[str, object] = {"seed": args.seed}
    if args.only in (None, "clip"):
        stage = "clip" if args.clip_init is None else "clip-shapes"
        path, seconds = train_clip(args.out, args.clip_steps, args.seed, args.clip_lr, init=args.clip_init,
                                   shape_bias=args.shape_bias, stage=stage)
        record.update(stage=stage, clip_steps=args.clip_steps, clip_seconds=round(seconds, 1),
                      clip_bytes=path.stat().st_size, shape_bias=args.shape_bias, clip_lr=args.clip_lr)
    if args.only in (None, "blip"):
        blip_stage = "blip" if args.blip_init is None else "blip-more"
        folder, seconds = train_blip(args.out, args.blip_steps, args.seed, args.blip_lr, init=args.blip_init,
                                     stage=blip_stage, shape_weight=args.blip_shape_weight)
        record.update(blip_stage=blip_stage, blip_lr=args.blip_lr, blip_shape_weight=args.blip_shape_weight,
                      blip_steps=args.blip_steps,
                      blip_seconds=round(seconds, 1),
                      blip_bytes=sum(f.stat().st_size for f in folder.iterdir()))
    print(json.dumps(record), flush=True)
    name = record.get("stage", record.get("blip_stage", "all"))
    (args.out / f"interrogate-train-{name}.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
