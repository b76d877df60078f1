"""Inpainting through the engine with the tiny SD1 checkpoint: untouched pixels, "Only masked",
masked-content modes, latent blending, infotext keys, empty masks."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from modules.engine import img2img
from modules.engine.generate import generate
from modules.engine.masks import blur_mask, read_mask
from modules.engine.request import GenerationRequest
from modules.infotext import parse_generation_parameters
from tests.engine_helpers import pixels
from tests.image_helpers import box_mask, noise_image

SMALL = dict(mode="img2img", width=64, height=64, steps=3, cfg_scale=5.0, sampler_name="Euler", seed=9,
             save_images=False, denoising_strength=0.9)


def test_pixels_outside_the_blurred_mask_are_identical_and_inside_repainted(ctx):
    init, mask = noise_image(64, 64), box_mask((64, 64), (20, 20, 44, 44))
    res = generate(GenerationRequest(init_images=(init,), mask=mask, **SMALL), ctx)
    out, src = pixels(res.images[0]), pixels(init)
    outside = np.asarray(blur_mask(read_mask(mask, (64, 64)), 4, 4)) == 0
    assert outside.sum() > 1000 and np.array_equal(out[outside], src[outside])
    assert (out[26:38, 26:38] != src[26:38, 26:38]).any(axis=2).mean() > 0.9
    info = parse_generation_parameters(res.infotexts[0])
    assert info["Mask blur"] == "4"
    assert "Inpaint area" not in res.infotexts[0] and "Masked content" not in res.infotexts[0]


def test_latent_blend_keeps_the_known_latent_after_every_model_call(ctx, captured):
    generate(GenerationRequest(init_images=(noise_image(64, 64),), mask=box_mask((64, 64), (0, 0, 32, 64)),
                               mask_blur_x=0, mask_blur_y=0, **SMALL), ctx)
    setup = captured[0]
    denoised = torch.randn_like(setup.x)
    blended = setup.blend(denoised, setup.sigmas[0])
    assert torch.equal(blended[..., :4], denoised[..., :4])  # masked half: the model's prediction
    assert not torch.equal(blended[..., 4:], denoised[..., 4:])
    again = setup.blend(torch.randn_like(setup.x), setup.sigmas[0])
    assert torch.equal(blended[..., 4:], again[..., 4:])  # known half: always the init latent


def test_inverted_mask_repaints_the_outside(ctx, captured):
    init, mask = noise_image(64, 64), box_mask((64, 64), (16, 16, 48, 48))
    res = generate(GenerationRequest(init_images=(init,), mask=mask, inpainting_mask_invert=1, mask_blur_x=0,
                                     mask_blur_y=0, **SMALL), ctx)
    out, src = pixels(res.images[0]), pixels(init)
    assert np.array_equal(out[17:47, 17:47], src[17:47, 17:47])
    assert (out[:8] != src[:8]).any()
    assert parse_generation_parameters(res.infotexts[0])["Mask mode"] == "Inpaint not masked"


def test_only_masked_crops_processes_and_pastes_back(ctx, captured, monkeypatch):
    seen = []
    real = img2img.encode_images
    monkeypatch.setattr(img2img, "encode_images", lambda m, x, **kw: seen.append(x.clone()) or real(m, x, **kw))
    init, mask = noise_image(128, 96), box_mask((128, 96), (70, 40, 86, 56))
    res = generate(GenerationRequest(init_images=(init,), mask=mask, inpaint_full_res=True,
                                     inpaint_full_res_padding=8, **SMALL), ctx)
    assert res.images[0].size == (128, 96)  # the init image's size, as A1111
    assert captured[0].x.shape[-2:] == (8, 8)  # the crop was processed at 64x64
    # Blurred mask reaches 10 px (sigma 4) + padding 8: region (52, 22)-(104, 74), already square.
    region = np.zeros((96, 128), dtype=bool)
    region[22:74, 52:104] = True
    out, src = pixels(res.images[0]), pixels(init)
    assert np.array_equal(out[~region], src[~region])
    assert (out[44:52, 74:82] != src[44:52, 74:82]).any()
    crop = init.crop((52, 22, 104, 74)).resize((64, 64), Image.Resampling.LANCZOS)
    crop = np.asarray(crop, dtype=np.float32)
    encoded = (seen[0][0].permute(1, 2, 0).numpy() + 1) * 127.5
    assert np.abs(encoded - crop).max() < 1.0  # what was encoded is the crop scaled to 64x64
    info = parse_generation_parameters(res.infotexts[0])
    assert info["Inpaint area"] == "Only masked" and info["Masked area padding"] == "8"


def _start(ctx, captured, fill):
    mask = box_mask((64, 64), (0, 0, 32, 64))
    res = generate(GenerationRequest(init_images=(noise_image(64, 64),), mask=mask, inpainting_fill=fill,
                                     mask_blur_x=0, mask_blur_y=0, **SMALL), ctx)
    return captured[-1].x, captured[-1].sigmas[0], res.infotexts[0]


def test_masked_content_modes_change_only_the_masked_latent_start(ctx, captured):
    original, sigma, info_o = _start(ctx, captured, 1)
    nothing, _, info_n = _start(ctx, captured, 3)
    noise, _, info_l = _start(ctx, captured, 2)
    fill, _, info_f = _start(ctx, captured, 0)
    left, right = (slice(None), slice(None), slice(None), slice(0, 4)), (..., slice(4, 8))
    for x in (nothing, noise):
        assert torch.equal(x[right], original[right]) and not torch.equal(x[left], original[left])
    # latent nothing: 0 + n*sigma; latent noise: n + n*sigma -> their difference is the noise itself.
    assert torch.allclose(noise[left] - nothing[left], nothing[left] / sigma, atol=1e-4)
    assert not torch.allclose(fill[left], original[left], atol=1e-3)  # fill changed the encoded picture
    assert "Masked content" not in info_o
    for text, name in ((info_f, "fill"), (info_l, "latent noise"), (info_n, "latent nothing")):
        assert parse_generation_parameters(text)["Masked content"] == name


def test_empty_mask_returns_the_init_image_and_says_why(ctx):
    init = noise_image(64, 64)
    for full_res in (False, True):
        res = generate(GenerationRequest(init_images=(init,), mask=Image.new("L", (64, 64), 0),
                                         inpaint_full_res=full_res, **SMALL), ctx)
        assert np.array_equal(pixels(res.images[0]), pixels(init))
        assert any("mask is empty" in c for c in res.comments)


def test_mask_of_another_size_is_stretched_to_the_image(ctx, captured):
    init = noise_image(64, 64)
    res = generate(GenerationRequest(init_images=(init,), mask=box_mask((32, 32), (0, 0, 8, 8)),
                                     mask_blur_x=0, mask_blur_y=0, **SMALL), ctx)
    out, src = pixels(res.images[0]), pixels(init)
    assert np.array_equal(out[24:, :], src[24:, :]) and np.array_equal(out[:, 24:], src[:, 24:])
    assert (out[:12, :12] != src[:12, :12]).any()
