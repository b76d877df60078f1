"""Inpainting checkpoints (9-channel UNets), SD1 and SDXL: the extra mask + masked-picture input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from modules.engine import img2img
from modules.engine.decode import encode_images, from_pil
from modules.engine.generate import generate
from modules.engine.masks import blur_mask, read_mask
from modules.engine.request import GenerationRequest
from modules.infotext import parse_generation_parameters
from tests.engine_helpers import engine_context, pixels
from tests.image_helpers import box_mask, noise_image

SMALL = dict(mode="img2img", width=64, height=64, steps=2, cfg_scale=5.0, sampler_name="Euler", seed=3,
             save_images=False, denoising_strength=0.9, mask_blur_x=0, mask_blur_y=0)


def left_half_mask() -> Image.Image:
    return box_mask(box=(0, 0, 32, 64))


def unet_inputs(ctx) -> list[torch.Size]:
    shapes: list[torch.Size] = []
    ctx.model.unet.register_forward_pre_hook(lambda m, args, kwargs: shapes.append(args[0].shape),
                                             with_kwargs=True)
    return shapes


@pytest.mark.parametrize("fixture", ["tiny_sd1_inpaint", "tiny_sdxl_inpaint"])
def test_inpainting_model_gets_nine_channels_and_keeps_the_outside(fixture, request, tmp_path):
    ctx = engine_context(request.getfixturevalue(fixture), tmp_path)
    shapes = unet_inputs(ctx)
    init = noise_image()
    res = generate(GenerationRequest(init_images=(init,), mask=left_half_mask(), **SMALL), ctx)
    assert shapes and all(s[1] == 9 for s in shapes)
    out, src = pixels(res.images[0]), pixels(init)
    assert np.array_equal(out[:, 32:], src[:, 32:]) and not np.array_equal(out[:, :32], src[:, :32])
    assert parse_generation_parameters(res.infotexts[0])["Conditional mask weight"] == "1.0"
    assert res.info["is_using_inpainting_conditioning"] is True


def test_image_cond_is_the_mask_and_the_latent_of_the_masked_picture(tiny_sd1_inpaint, tmp_path, monkeypatch):
    ctx = engine_context(tiny_sd1_inpaint, tmp_path)
    seen = []
    monkeypatch.setattr(img2img, "run_sampler", lambda s, p, setup, *a, **k: seen.append(setup) or setup.x)
    init = noise_image(seed=1)
    generate(GenerationRequest(init_images=(init,), mask=left_half_mask(), **SMALL), ctx)
    cond = seen[0].image_cond
    assert cond.shape == (1, 5, 8, 8)
    assert torch.equal(cond[0, 0, :, :4], torch.ones(8, 4))
    assert torch.equal(cond[0, 0, :, 4:], torch.zeros(8, 4))
    source = from_pil([init])
    source[..., :32] = 0.0  # the repainted half is grey (0 in [-1, 1])
    assert torch.allclose(cond[:, 1:], encode_images(ctx.model, source), atol=1e-5)


def test_mask_weight_zero_conditions_on_the_whole_picture(tiny_sd1_inpaint, tmp_path, monkeypatch):
    ctx = engine_context(tiny_sd1_inpaint, tmp_path, {"inpainting_mask_weight": 0.0})
    seen = []
    monkeypatch.setattr(img2img, "run_sampler", lambda s, p, setup, *a, **k: seen.append(setup) or setup.x)
    init = noise_image(seed=2)
    res = generate(GenerationRequest(init_images=(init,), mask=left_half_mask(), **SMALL), ctx)
    assert torch.allclose(seen[0].image_cond[:, 1:], encode_images(ctx.model, from_pil([init])), atol=1e-5)
    assert parse_generation_parameters(res.infotexts[0])["Conditional mask weight"] == "0.0"


def test_inpainting_model_without_a_mask_conditions_on_grey(tiny_sd1_inpaint, tmp_path, monkeypatch):
    ctx = engine_context(tiny_sd1_inpaint, tmp_path)
    seen = []
    monkeypatch.setattr(img2img, "run_sampler", lambda s, p, setup, *a, **k: seen.append(setup) or setup.x)
    generate(GenerationRequest(init_images=(noise_image(seed=3),), **{**SMALL, "mask_blur_x": 4}), ctx)
    cond = seen[0].image_cond
    assert torch.equal(cond[:, :1], torch.ones(1, 1, 8, 8))
    grey = encode_images(ctx.model, torch.zeros(1, 3, 64, 64))
    assert torch.allclose(cond[:, 1:], grey, atol=1e-5)


def test_blurred_mask_is_rounded_for_the_model_input(tiny_sd1_inpaint, tmp_path, monkeypatch):
    ctx = engine_context(tiny_sd1_inpaint, tmp_path)
    seen = []
    monkeypatch.setattr(img2img, "run_sampler", lambda s, p, setup, *a, **k: seen.append(setup) or setup.x)
    mask = left_half_mask()
    generate(GenerationRequest(init_images=(noise_image(seed=4),), mask=mask, **{**SMALL, "mask_blur_x": 6}), ctx)
    assert set(seen[0].image_cond[0, 0].unique().tolist()) == {0.0, 1.0}
    assert np.asarray(blur_mask(read_mask(mask, (64, 64)), 6, 0))[0, 33] > 0  # the blur itself is soft
