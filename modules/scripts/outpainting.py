"""Built-in script "Outpainting mk2": grow the canvas and inpaint the new border.

The picture is placed on a larger canvas (N pixels more towards each chosen direction), the
new area is pre-filled with the picture's edge colours plus noise shaped like natural texture,
and one img2img inpainting pass repaints the new area and a `mask_blur`-wide band of the old
picture, so the seam is soft. The rest of the old picture comes back byte for byte (the
engine's composite guarantees it).

Differences from A1111's mk2, on purpose: all directions are painted in one pass (A1111 runs
one pass per direction); the fill noise is 1/f^noise_q noise made here, not A1111's FFT
histogram matching; the canvas grows to a multiple of 8 (A1111: of 64).

Script arguments (`script_args` in the API) are accepted as A1111 sends them,
`["", pixels, mask_blur, direction, noise_q, color_variation]`, without the leading label,
`[pixels, mask_blur, direction, noise_q, color_variation]`, or as a dict with those names.
`direction` is a list of "left", "right", "up", "down" (or one comma-separated string).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from modules.engine.context import EngineContext
from modules.engine.control import JobControl
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.resize import flatten_image, limit_pixels
from modules.engine.validation import MAX_SIZE, MIN_SIZE, InvalidRequestError
from modules.scripts.declaration import ScriptDeclaration, ScriptParam

TITLE = "Outpainting mk2"
DIRECTIONS = ("left", "right", "up", "down")
MAX_PIXELS, MAX_BLUR = 1024, 64
ORIGINAL_CONTENT = 1  # inpainting_fill "original": the canvas already holds the pre-fill


@dataclass(frozen=True)
class OutpaintArgs:
    """The script's settings (A1111's defaults)."""

    pixels: int = 128
    mask_blur: int = 8
    directions: tuple[str, ...] = DIRECTIONS
    noise_q: float = 1.0  # fall-off exponent of the fill noise: lower = finer detail
    color_variation: float = 0.05  # 0 = grey noise, 1 = independent noise per colour channel


@dataclass(frozen=True)
class Canvas:
    """The grown picture, its mask (white = paint), and where the old picture sits in it."""

    image: Image.Image
    mask: Image.Image
    box: tuple[int, int, int, int]  # left, top, right, bottom of the old picture


def parse_directions(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    names = tuple(str(v).strip().lower() for v in items if str(v).strip())
    unknown = [n for n in names if n not in DIRECTIONS]
    if unknown or not names:
        raise InvalidRequestError(f"outpainting direction must be one or more of {', '.join(DIRECTIONS)}; "
                                  f"got {value!r}")
    return tuple(d for d in DIRECTIONS if d in names)


def _number(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"outpainting {name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise InvalidRequestError(f"outpainting {name} must be between {low:g} and {high:g}, got {value!r}")
    return number


def parse_script_args(args: Sequence[Any] | Mapping[str, Any] | None) -> OutpaintArgs:
    """OutpaintArgs from A1111-style positional args (with or without the label) or a dict."""
    names = ("pixels", "mask_blur", "direction", "noise_q", "color_variation")
    if isinstance(args, Mapping):
        values = {k: args[k] for k in names if k in args}
        if "directions" in args:
            values["direction"] = args["directions"]
    else:
        items = list(args or [])
        if len(items) == 1 and isinstance(items[0], Mapping):
            return parse_script_args(items[0])
        if items and (items[0] is None or (isinstance(items[0], str) and not items[0].strip().isdigit())):
            items = items[1:]  # A1111's first slot is the script's info label
        if len(items) > len(names):
            raise InvalidRequestError(f"outpainting takes at most {len(names)} arguments {list(names)}, "
                                      f"got {len(items)}")
        values = dict(zip(names, items, strict=False))
    default = OutpaintArgs()
    return OutpaintArgs(
        pixels=int(_number("pixels", values.get("pixels", default.pixels), 1, MAX_PIXELS)),
        mask_blur=int(_number("mask_blur", values.get("mask_blur", default.mask_blur), 0, MAX_BLUR)),
        directions=parse_directions(values.get("direction", default.directions)),
        noise_q=_number("noise_q", values.get("noise_q", default.noise_q), 0, 4),
        color_variation=_number("color_variation", values.get("color_variation", default.color_variation),
                                0, 1))


def _axis_growth(size: int, before: int, after: int) -> tuple[int, int]:
    """Pixels added before/after on one axis so the total is a multiple of 8 and >= MIN_SIZE;
    the rounding goes to the sides being extended (to the far side when neither is)."""
    total = max(-(-(size + before + after) // 8) * 8, MIN_SIZE)
    extra = total - size - before - after
    if before and after:
        return before + extra // 2, after + extra - extra // 2
    if before:
        return before + extra, after
    return before, after + extra


def fit_for_growth(image: Image.Image, args: OutpaintArgs) -> Image.Image:
    """Shrink a picture too large for its grown canvas to stay within MAX_SIZE (not an error)."""
    grow_w = args.pixels * sum(d in args.directions for d in ("left", "right"))
    grow_h = args.pixels * sum(d in args.directions for d in ("up", "down"))
    room_w, room_h = MAX_SIZE - grow_w - 8, MAX_SIZE - grow_h - 8
    if room_w < 8 or room_h < 8:
        raise InvalidRequestError(f"outpainting {args.pixels} pixels would grow the canvas past {MAX_SIZE} "
                                  "pixels; use fewer pixels")
    scale = min(1.0, room_w / image.width, room_h / image.height)
    if scale == 1.0:
        return image
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def canvas_layout(width: int, height: int, args: OutpaintArgs) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels to add around a width×height picture."""
    grow = {d: (args.pixels if d in args.directions else 0) for d in DIRECTIONS}
    left, right = _axis_growth(width, grow["left"], grow["right"])
    top, bottom = _axis_growth(height, grow["up"], grow["down"])
    new_w, new_h = width + left + right, height + top + bottom
    if new_w > MAX_SIZE or new_h > MAX_SIZE:
        raise InvalidRequestError(f"the outpainted canvas would be {new_w}x{new_h}, larger than {MAX_SIZE} "
                                  "pixels a side; use fewer pixels or a smaller picture")
    return left, top, right, bottom


def shaped_noise(height: int, width: int, q: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance 2-D noise with a 1/f^q spectrum (q = 0: white noise; larger: smoother)."""
    white = rng.standard_normal((height, width))
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :]
    freq = np.sqrt(fx * fx + fy * fy)
    freq[0, 0] = 1.0
    spectrum = np.fft.rfft2(white) / freq**q
    spectrum[0, 0] = 0.0
    noise = np.fft.irfft2(spectrum, s=(height, width))
    return noise / max(float(noise.std()), 1e-8)


def prefill(image: Image.Image, pads: tuple[int, int, int, int], args: OutpaintArgs,
            rng: np.random.Generator) -> np.ndarray:
    """The grown canvas: edge colours stretched outwards and softened, plus texture noise
    scaled to the picture's own contrast, in the new area only."""
    import cv2

    left, top, right, bottom = pads
    arr = np.asarray(image, dtype=np.float32)
    grown = np.pad(arr, ((top, bottom), (left, right), (0, 0)), mode="edge")
    radius = max(args.pixels / 8, 1.0)
    soft = cv2.GaussianBlur(grown, (0, 0), radius, borderType=cv2.BORDER_REFLECT_101)
    h, w = grown.shape[:2]
    grey = shaped_noise(h, w, args.noise_q, rng)[..., None]
    colour = np.stack([shaped_noise(h, w, args.noise_q, rng) for _ in range(3)], axis=-1)
    noise = grey * (1 - args.color_variation) + colour * args.color_variation
    fill = soft + noise * float(arr.std()) * 0.5
    fill[top:top + image.height, left:left + image.width] = arr
    return np.clip(np.rint(fill), 0, 255).astype(np.uint8)


def build_canvas(image: Image.Image, args: OutpaintArgs, seed: int) -> Canvas:
    """The canvas and its mask: white over the new area and `mask_blur` pixels into the old
    picture on the grown sides, so the blurred seam falls inside the old picture."""
    pads = canvas_layout(image.width, image.height, args)
    left, top, right, bottom = pads
    canvas = Image.fromarray(prefill(image, pads, args, np.random.default_rng(seed)), mode="RGB")
    mask = np.full((canvas.height, canvas.width), 255, dtype=np.uint8)
    b = args.mask_blur
    keep = (left + (b if left else 0), top + (b if top else 0),
            left + image.width - (b if right else 0), top + image.height - (b if bottom else 0))
    mask[keep[1]:keep[3], keep[0]:keep[2]] = 0
    box = (left, top, left + image.width, top + image.height)
    return Canvas(canvas, Image.fromarray(mask, mode="L"), box)


def outpaint_request(req: GenerationRequest, canvas: Canvas, args: OutpaintArgs,
                     seed: int) -> GenerationRequest:
    """The img2img inpainting request that paints the new border (any mask sent is replaced)."""
    return req.with_changes(
        init_images=(canvas.image,), mask=canvas.mask, width=canvas.image.width, height=canvas.image.height,
        resize_mode=0, mask_blur_x=args.mask_blur, mask_blur_y=args.mask_blur,
        inpainting_fill=ORIGINAL_CONTENT, inpaint_full_res=False, inpainting_mask_invert=0, seed=seed,
        script_name=None, script_args=())


def run_outpainting(req: GenerationRequest, ctx: EngineContext, control: JobControl | None = None, *,
                    pixels: int = 128, mask_blur: int = 8, directions: Sequence[str] = DIRECTIONS,
                    noise_q: float = 1.0, color_variation: float = 0.05) -> GenerationResult:
    """Outpaint `req.init_images[0]`; the result's pictures are the grown canvas size."""
    from modules.engine.generate import generate

    if req.mode != "img2img" or not req.init_images:
        raise InvalidRequestError(f"{TITLE} is an img2img script: send it to img2img with an init image")
    if not isinstance(req.init_images[0], Image.Image):
        raise InvalidRequestError(f"init_images[0] is a {type(req.init_images[0]).__name__}, not a picture")
    args = parse_script_args({"pixels": pixels, "mask_blur": mask_blur, "direction": list(directions),
                              "noise_q": noise_q, "color_variation": color_variation})
    background = str(ctx.settings["img2img_background_color"])
    image = fit_for_growth(limit_pixels(flatten_image(req.init_images[0], background)), args)
    seed = int(req.seed) if req.seed is not None and int(req.seed) >= 0 else random.randrange(4294967294)
    canvas = build_canvas(image, args, seed)
    return generate(outpaint_request(req, canvas, args, seed), ctx, control)


def outpainting_script(req: GenerationRequest, ctx: EngineContext,
                       control: JobControl | None = None) -> GenerationResult:
    """The registry entry: settings come from `req.script_args` (see the module doc)."""
    args = parse_script_args(req.script_args)
    return run_outpainting(req, ctx, control, pixels=args.pixels, mask_blur=args.mask_blur,
                           directions=args.directions, noise_q=args.noise_q,
                           color_variation=args.color_variation)


DECLARATION = ScriptDeclaration(
    TITLE, outpainting_script, img2img_only=True, field_prefix="outpaint",
    params=(
        ScriptParam("pixels", "Pixels to expand", "slider", OutpaintArgs.pixels, 8, 256, 8, integer=True),
        ScriptParam("mask_blur", "Mask blur", "slider", OutpaintArgs.mask_blur, 0, MAX_BLUR, 1, integer=True),
        ScriptParam("directions", "Outpainting direction", "checkboxes", DIRECTIONS, choices=DIRECTIONS),
        ScriptParam("noise_q", "Fall-off exponent (lower=higher detail)", "slider", OutpaintArgs.noise_q,
                    0.0, 4.0, 0.01),
        ScriptParam("color_variation", "Color variation", "slider", OutpaintArgs.color_variation, 0.0, 1.0, 0.01),
    ))
