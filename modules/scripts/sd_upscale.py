"""The "SD upscale" img2img script: upscale with an upscaler, redraw in generation-sized tiles.

The picture is upscaled by `scale_factor` with the chosen upscaler (None keeps its size, as in
A1111), cut into tiles of the request's width x height overlapping by `overlap` pixels, each tile
redrawn by img2img at the request's denoising strength (all tiles of one picture share one seed;
each batch count adds 1, as in A1111), and the tiles blended back together.

`script_args` as A1111 sends them: `["", overlap, upscaler, scale_factor]`, where `upscaler` is
the name of an upscaler or its index in GET /sdapi/v1/upscalers (A1111's UI sends the index).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from modules.engine.context import EngineContext
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.validation import InvalidRequestError
from modules.scripts.declaration import ScriptDeclaration, ScriptParam
from modules.scripts.tile_grid import combine, plan_grid, split

TITLE = "SD upscale"


@dataclass(frozen=True)
class SdUpscaleArgs:
    overlap: int = 64
    upscaler: str = "None"
    scale_factor: float = 2.0


def parse_script_args(args: Sequence[Any], upscaler_names: Sequence[str]) -> SdUpscaleArgs:
    """SdUpscaleArgs from `["", overlap, upscaler, scale]` (the leading label may be left out)."""
    items = list(args or [])
    if len(items) == 4 or (items and isinstance(items[0], str) and not items[0].strip().lstrip("-").isdigit()
                           and len(items) > 1 and not isinstance(items[1], str)):
        items = items[1:]
    default = SdUpscaleArgs()
    overlap = items[0] if len(items) > 0 else default.overlap
    upscaler = items[1] if len(items) > 1 else default.upscaler
    scale = items[2] if len(items) > 2 else default.scale_factor
    try:
        overlap, scale = int(overlap), float(scale)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"SD upscale takes [\"\", overlap, upscaler, scale_factor]; got {args!r}") from None
    if isinstance(upscaler, int | float) and not isinstance(upscaler, bool):
        index = int(upscaler)
        if not 0 <= index < len(upscaler_names):
            raise InvalidRequestError(f"SD upscale upscaler index {index} is out of range 0..{len(upscaler_names) - 1}")
        upscaler = upscaler_names[index]
    if not 0 <= overlap <= 256:
        raise InvalidRequestError(f"SD upscale overlap must be 0..256 pixels, got {overlap}")
    if not 1.0 <= scale <= 4.0:
        raise InvalidRequestError(f"SD upscale scale factor must be 1..4, got {scale:g}")
    return SdUpscaleArgs(overlap, str(upscaler), scale)


def _upscaled(image: Image.Image, args: SdUpscaleArgs, ctx: EngineContext) -> Image.Image:
    catalog = ctx.extras.get("upscalers")
    if args.upscaler == "None" or catalog is None:
        return image
    return catalog.upscale(image, args.upscaler, scale=args.scale_factor, settings=ctx.settings)


def run_sd_upscale(req: GenerationRequest, ctx: EngineContext, control: Any = None) -> GenerationResult:
    """Upscale `req.init_images[0]` and redraw it in tiles; one picture per batch count."""
    from modules.engine.generate import generate

    if req.mode != "img2img" or not req.init_images:
        raise InvalidRequestError(f"{TITLE} is an img2img script: send it to img2img with an init image")
    catalog = ctx.extras.get("upscalers")
    names = catalog.names() if catalog is not None else ["None"]
    args = parse_script_args(req.script_args, names)
    if catalog is not None and args.upscaler != "None":
        catalog.resolve(args.upscaler)
    image = _upscaled(req.init_images[0].convert("RGB"), args, ctx)
    grid = plan_grid(image.width, image.height, req.width, req.height, args.overlap)
    tiles = split(image, grid)
    start_seed = int(req.seed) if int(req.seed) >= 0 else random.randrange(4294967294)
    info = {"SD upscale overlap": args.overlap, "SD upscale upscaler": args.upscaler}
    pictures, infotexts, seeds = [], [], []
    result: GenerationResult | None = None
    for n in range(req.n_iter):
        done: list[Image.Image] = []
        for b in range(0, len(tiles), max(1, req.batch_size)):
            batch = tiles[b:b + max(1, req.batch_size)]
            sub = req.with_changes(init_images=tuple(batch), batch_size=len(batch), n_iter=1, seed=start_seed + n,
                                   subseed=-1 if req.subseed < 0 else req.subseed + n, resize_mode=0,
                                   script_name=None, script_args=(), save_images=False, save_grid=False,
                                   override_settings={**req.override_settings, "return_grid": False})
            result = generate(sub, ctx, control)
            if result.interrupted or len(result.images) < len(batch):
                break
            done += result.images[result.index_of_first_image:][:len(batch)]
        if len(done) < len(tiles):
            break
        pictures.append(combine(done, grid))
        text = result.infotexts[result.index_of_first_image] if result else ""
        text += "".join(f", {k}: {v}" for k, v in info.items())
        pictures[-1].info["parameters"] = text
        infotexts.append(text)
        seeds.append(start_seed + n)
    saved = [_save(p, t, ctx) for p, t in zip(pictures, infotexts, strict=True)] if req.save_images else []
    n = len(pictures)
    return GenerationResult(images=pictures, infotexts=infotexts, seeds=seeds, subseeds=seeds,
                            prompts=[req.prompt] * n, negative_prompts=[req.negative_prompt] * n,
                            info=_job_info(result, info, infotexts, seeds),
                            saved_paths=[s for s in saved if s], interrupted=n < req.n_iter)


def _job_info(result: GenerationResult | None, extra: dict[str, Any], infotexts: list[str],
              seeds: list[int]) -> dict[str, Any]:
    """The last tile job's info (A1111 reports the tile size as width/height), with the script's
    entries and the whole pictures' infotexts and seeds."""
    base = dict(result.info) if result else {}
    base["extra_generation_params"] = {**base.get("extra_generation_params", {}), **extra}
    base.update(infotexts=infotexts, all_seeds=seeds, index_of_first_image=0)
    if seeds:
        base["seed"] = seeds[0]
    return base


def _save(image: Image.Image, infotext: str, ctx: EngineContext) -> str | None:
    """Save into the img2img output folder when the settings ask for it (A1111's samples_save)."""
    from pathlib import Path

    from modules.images.saving import SaveOptions, save_image

    settings = ctx.settings
    if not settings.get("samples_save", True):
        return None
    folder = Path(settings.get("outdir_samples") or settings.get("outdir_img2img_samples") or "outputs/img2img-images")
    folder = folder if folder.is_absolute() else ctx.data_dir / folder
    options = SaveOptions.from_settings(settings)
    path, _ = save_image(image, folder, "", extension=options.samples_format, info=infotext, options=options)
    return path


def upscaler_names(runtime: Any) -> tuple[str, ...]:
    catalog = getattr(runtime, "upscalers", None)
    return tuple(catalog.names()) if catalog is not None else ("None",)


DECLARATION = ScriptDeclaration(
    TITLE, run_sd_upscale, img2img_only=True, field_prefix="sd_upscale",
    params=(
        ScriptParam("overlap", "Tile overlap", "slider", SdUpscaleArgs.overlap, 0, 256, 16, integer=True),
        ScriptParam("upscaler", "Upscaler", "radio", "None", choices_of=upscaler_names),
        ScriptParam("scale_factor", "Scale Factor", "slider", SdUpscaleArgs.scale_factor, 1.0, 4.0, 0.05),
    ))
