"""img2img and inpainting: init images and masks in, a `BatchSampler` and a post-process out.

`run_job` (processing.py) owns prompts, seeds, decoding, infotexts and saving; this module
supplies the two mode-specific steps. `img2img_batch` turns the init images into latents,
noises them to the denoising strength over A1111's shortened schedule and samples (with the
latent mask blended back after every model call when inpainting). `img2img_postprocess` pastes
the decoded pictures over the originals through the blurred mask, so pixels outside it come
back byte for byte, and returns the init picture itself when there is nothing to do.

Both steps derive the per-image preparation from the request again (`prepare_input`): it is
pure PIL work, cheap next to sampling, and avoids keeping per-job state anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from PIL import Image

from modules.engine.decode import encode_images, from_pil
from modules.engine.masks import (
    Overlay,
    blur_mask,
    composite,
    crop_region,
    doubled,
    expand_to_aspect,
    fill_masked,
    is_empty,
    latent_mask,
    pixel_mask,
    read_mask,
)
from modules.engine.request import INPAINTING_FILL, GenerationRequest
from modules.engine.request_fields import body_fields
from modules.engine.resize import LATENT_UPSCALE, RESIZE_AND_FILL, flatten_image, limit_pixels, resize_image
from modules.engine.sampling import SamplingSetup, make_rng, plan_sigmas, run_sampler
from modules.engine.stages import pass_stage
from modules.engine.validation import MAX_SIZE, InvalidRequestError, check_fields, request_lookup
from modules.hooks.payloads import BeforePaste
from modules.samplers.start import img2img_start, img2img_steps

if TYPE_CHECKING:
    from modules.engine.processing import BatchPlan, JobState

FILL, ORIGINAL, LATENT_NOISE, LATENT_NOTHING = range(4)
EMPTY_MASK_NOTE = "The mask is empty (nothing is selected to inpaint): the init image is returned unchanged."


@dataclass(frozen=True)
class PreparedInput:
    """One init image made ready for one request."""

    image: Image.Image  # RGB at the processing size (the "Only masked" crop when that is on)
    mask: Image.Image | None  # L at the processing size, blurred; None without a mask
    overlay: Overlay | None  # how the generated picture goes back over the original
    unchanged: Image.Image  # the answer when nothing is to be done (strength 0, empty mask)
    encode_image: Image.Image | None = None  # "latent upscale": the picture encoded at its own size
    empty_mask: bool = False


def validate_img2img_request(req: GenerationRequest) -> None:
    """Raise InvalidRequestError for img2img inputs the engine cannot use, naming the fix."""
    for i, image in enumerate(req.init_images):
        if not isinstance(image, Image.Image):
            raise InvalidRequestError(f"init_images[{i}] is a {type(image).__name__}, not a picture; send a "
                                      "PNG/JPEG/WebP image (base64 in the API)")
        if image.width < 1 or image.height < 1:
            raise InvalidRequestError(f"init_images[{i}] is empty ({image.width}x{image.height}); "
                                      "send a real picture")
    if req.mask is not None and not isinstance(req.mask, Image.Image):
        raise InvalidRequestError(f"mask is a {type(req.mask).__name__}, not a picture; send a "
                                  "black-and-white image where white means 'repaint here'")
    # resize_mode, inpainting_fill, mask blur, padding, noise multiplier: the field table's rules
    check_fields(request_lookup(req), "img2img", fields=body_fields("img2img"))


def _latent_upscale_source(image: Image.Image) -> Image.Image:
    """The picture at its own size, trimmed to a multiple of 8 and at most MAX_SIZE a side,
    so the VAE can encode it before its latent is stretched to the processing size."""
    scale = min(1.0, MAX_SIZE / max(image.size))
    w, h = (max(8, int(side * scale) // 8 * 8) for side in image.size)
    return image if (w, h) == image.size else image.resize((w, h), Image.Resampling.LANCZOS)


def prepare_input(req: GenerationRequest, source: Image.Image, background: str) -> PreparedInput:
    """Flatten, fit and mask one init image as A1111 does (see the module doc for the modes)."""
    image = limit_pixels(flatten_image(source, background))
    w, h = req.width, req.height
    if req.mask is None:
        fitted = resize_image(req.resize_mode, image, w, h)
        upscale = _latent_upscale_source(image) if req.resize_mode == LATENT_UPSCALE else None
        return PreparedInput(fitted, None, None, fitted, encode_image=upscale)
    mask = read_mask(req.mask, image.size, bool(req.inpainting_mask_invert))
    mask = blur_mask(mask, req.mask_blur_x, req.mask_blur_y)
    region = crop_region(mask, req.inpaint_full_res_padding) if req.inpaint_full_res else None
    if req.inpaint_full_res and region is None:
        return PreparedInput(image, None, None, image, empty_mask=True)
    if region is not None:
        region = expand_to_aspect(region, w, h, image.width, image.height)
        crop = resize_image(RESIZE_AND_FILL, image.crop(region), w, h)
        crop_mask = resize_image(RESIZE_AND_FILL, mask.crop(region), w, h)
        return PreparedInput(crop, crop_mask, Overlay(image, mask, region), image)
    # With a mask, latent upscale works at the pixel level like "Just resize" (masks must align).
    mode = 0 if req.resize_mode == LATENT_UPSCALE else req.resize_mode
    fitted, fitted_mask = resize_image(mode, image, w, h), resize_image(mode, mask, w, h)
    return PreparedInput(fitted, fitted_mask, Overlay(fitted, doubled(fitted_mask)), fitted,
                         empty_mask=is_empty(fitted_mask))


def batch_indices(req: GenerationRequest, plan: "BatchPlan") -> list[int]:
    """Which init image each picture of the batch starts from: a list of init images cycles."""
    first = plan.index * req.batch_size
    return [(first + j) % len(req.init_images) for j in range(len(plan.seeds))]


def prepare_batch(state: "JobState", plan: "BatchPlan") -> list[PreparedInput]:
    req = state.req
    background = str(state.ctx.settings["img2img_background_color"])
    prepared: dict[int, PreparedInput] = {}
    for i in batch_indices(req, plan):
        if i not in prepared:
            prepared[i] = prepare_input(req, req.init_images[i], background)
    return [prepared[i] for i in batch_indices(req, plan)]


def nothing_to_do(req: GenerationRequest, item: PreparedInput) -> bool:
    """Strength 0 or an empty mask: the answer is the init image, bit for bit (a VAE round trip
    would be lossy, so sampling is skipped rather than run at a tiny strength)."""
    return req.denoising_strength == 0 or item.empty_mask


def image_for_latent(req: GenerationRequest, item: PreparedInput) -> Image.Image:
    if item.encode_image is not None:
        return item.encode_image
    if item.mask is not None and req.inpainting_fill == FILL:
        return fill_masked(item.image, item.mask)
    return item.image


def encode_inputs(state: "JobState", items: list[PreparedInput], latent_hw: tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) init latents; identical inputs are encoded once."""
    model, req = state.ctx.model, state.req
    cache: dict[int, torch.Tensor] = {}
    rows = []
    for item in items:
        if id(item) not in cache:
            with pass_stage(state, "vae"):
                latent = encode_images(model, from_pil([image_for_latent(req, item)]),
                                       settings=state.ctx.settings)
            if latent.shape[-2:] != latent_hw:
                latent = F.interpolate(latent, size=latent_hw, mode="bilinear")
            cache[id(item)] = latent
        rows.append(cache[id(item)])
    return torch.cat(rows).to(state.ctx.device)


def mask_batch(items: list[PreparedInput], latent_hw: tuple[int, int],
               device: torch.device) -> torch.Tensor | None:
    """(B, 1, h, w) latent mask (1 = repaint); pictures without a mask get 0 (keep everything)."""
    if all(item.mask is None for item in items):
        return None
    rows = [latent_mask(item.mask, latent_hw) if item.mask is not None else torch.zeros(1, 1, *latent_hw)
            for item in items]
    return torch.cat(rows).to(device)


def apply_masked_content(state: "JobState", plan: "BatchPlan", init: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
    """"latent noise" puts the seed's noise in the masked latent, "latent nothing" zeros;
    "fill" and "original" already live in the encoded picture."""
    fill = state.req.inpainting_fill
    if fill == LATENT_NOISE:
        noise = make_rng(state, plan, tuple(init.shape[-2:])).first().to(init)
        return init * (1 - mask) + noise * mask
    if fill == LATENT_NOTHING:
        return init * (1 - mask)
    return init


def inpainting_image_cond(state: "JobState", items: list[PreparedInput],
                          latent_hw: tuple[int, int]) -> torch.Tensor:
    """The extra UNet input of inpainting checkpoints: (B, 1 + C, h, w) = [mask, latent of the
    masked picture]. The masked picture is the picture in [-1, 1] with the repainted area set to 0
    (grey), mixed back towards the full picture by `inpainting_mask_weight` (A1111's lerp)."""
    model, req = state.ctx.model, state.req
    weight = float(state.ctx.settings["inpainting_mask_weight"])
    cache: dict[int, torch.Tensor] = {}
    rows = []
    for item in items:
        if id(item) not in cache:
            picture = image_for_latent(req, item) if item.encode_image is None else item.image
            source = from_pil([picture])
            mask = pixel_mask(item.mask) if item.mask is not None else torch.ones(1, 1, *source.shape[-2:])
            with pass_stage(state, "vae"):
                latent = encode_images(model, torch.lerp(source, source * (1.0 - mask), weight),
                                       settings=state.ctx.settings)
            small = F.interpolate(mask, size=latent.shape[-2:]).to(latent)
            cache[id(item)] = F.interpolate(torch.cat([small, latent], dim=1), size=latent_hw)
        rows.append(cache[id(item)])
    return torch.cat(rows).to(state.ctx.device)


def record_params(state: "JobState", items: list[PreparedInput]) -> None:
    """A1111's img2img infotext keys, in its order (only those that apply)."""
    req, settings, params = state.req, state.ctx.settings, state.extra_params
    if req.mask is not None:
        if req.inpainting_mask_invert:
            params["Mask mode"] = "Inpaint not masked"
        if req.mask_blur_x == req.mask_blur_y:
            params["Mask blur"] = req.mask_blur_x
        else:
            params["Mask blur x"], params["Mask blur y"] = req.mask_blur_x, req.mask_blur_y
        if any(item.overlay is not None and item.overlay.paste_box is not None for item in items):
            params["Inpaint area"] = "Only masked"
            params["Masked area padding"] = req.inpaint_full_res_padding
        if req.inpainting_fill != ORIGINAL:
            params["Masked content"] = INPAINTING_FILL[req.inpainting_fill]
    multiplier = noise_multiplier(state)
    if multiplier != 1.0:
        params["Noise multiplier"] = multiplier
    extra = float(settings["img2img_extra_noise"])
    if extra > 0:
        params["Extra noise"] = extra
    if state.ctx.model.family.is_inpainting:
        params["Conditional mask weight"] = float(settings["inpainting_mask_weight"])
    if any(item.empty_mask for item in items) and EMPTY_MASK_NOTE not in state.comments:
        state.comments.append(EMPTY_MASK_NOTE)


def noise_multiplier(state: "JobState") -> float:
    value = state.req.initial_noise_multiplier
    return float(state.ctx.settings["initial_noise_multiplier"] if value is None else value)


def img2img_batch(state: "JobState", plan: "BatchPlan") -> torch.Tensor:
    """Latents for one batch: init latent noised to the strength, sampled over the tail of the
    schedule; with a mask, the known latent is blended back after every model call."""
    req, ctx = state.req, state.ctx
    validate_img2img_request(req)
    items = prepare_batch(state, plan)
    record_params(state, items)
    channels = ctx.model.latent_channels
    if all(nothing_to_do(req, item) for item in items):
        # The post-process returns the init images; a 1×1 latent keeps the obligatory decode cheap.
        return torch.zeros(len(items), channels, 1, 1, device=ctx.device)
    f = ctx.model.vae_downscale
    latent_hw = (req.height // f, req.width // f)
    init = encode_inputs(state, items, latent_hw)
    mask = mask_batch(items, latent_hw, ctx.device)
    if mask is not None:
        init = apply_masked_content(state, plan, init, mask)
    image_cond = inpainting_image_cond(state, items, latent_hw) if ctx.model.family.is_inpainting else None
    return sample_from(state, plan, init, mask, image_cond, latent_hw)


def sample_from(state: "JobState", plan: "BatchPlan", init: torch.Tensor, mask: torch.Tensor | None,
                image_cond: torch.Tensor | None, latent_hw: tuple[int, int]) -> torch.Tensor:
    req, ctx = state.req, state.ctx
    steps, t_enc = img2img_steps(req.steps, req.denoising_strength, bool(ctx.settings["img2img_fix_steps"]))
    sigmas = plan_sigmas(state, steps)
    rng = make_rng(state, plan, latent_hw)
    noise = rng.first() * noise_multiplier(state)
    x, schedule = img2img_start(state.active.sampler, init, noise, sigmas, steps, t_enc,
                                float(ctx.settings["img2img_extra_noise"]))
    blend = None
    if mask is not None:
        def blend(denoised: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            return init * (1 - mask) + denoised * mask

    samples = run_sampler(state, plan, SamplingSetup(x, schedule, image_cond, blend), rng, full_sigmas=sigmas)
    return samples if mask is None else init * (1 - mask) + samples * mask


def img2img_postprocess(state: "JobState", plan: "BatchPlan", images: list[Image.Image]) -> list[Image.Image]:
    """Soft-paste each picture over its original; the init image itself when nothing was done."""
    req = state.req
    out = []
    indices = plan.indices or [plan.index * req.batch_size + j for j in range(len(images))]
    for image, item, index in zip(images, prepare_batch(state, plan), indices, strict=True):
        if nothing_to_do(req, item):
            out.append(item.unchanged.copy())
        elif item.overlay is not None:
            out.append(paste_back(state, index, image, item.overlay))
        else:
            out.append(image)
    return out


def paste_back(state: "JobState", index: int, image: Image.Image, overlay: Overlay) -> Image.Image:
    """The `before_paste` hooks (A1111's postprocess_image / postprocess_maskoverlay moment), then the
    paste; a hook that sets the mask or the original to None keeps the generated picture as it is."""
    hooks = state.ctx.hooks
    if hooks is not None and hooks.has("before_paste"):
        payload = BeforePaste(state.req, index, image, overlay.mask, overlay.original)
        hooks.call("before_paste", payload)
        if payload.mask is None or payload.original is None:
            return payload.image
        image = payload.image
        overlay = dataclasses.replace(overlay, mask=payload.mask, original=payload.original)
    return composite(image, overlay)
