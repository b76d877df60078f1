"""img2img through the engine with the tiny SD1 checkpoint: sizes, strength, batches, infotext,
saving and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from modules.engine import img2img
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.infotext import parse_generation_parameters
from tests.engine_helpers import engine_context, pixels
from tests.image_helpers import noise_image

SMALL = dict(mode="img2img", width=64, height=64, steps=3, cfg_scale=5.0, sampler_name="Euler", seed=5,
             save_images=False)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_every_resize_mode_gives_the_requested_size(ctx, captured, mode):
    res = generate(GenerationRequest(init_images=(noise_image(96, 64),), resize_mode=mode,
                                     **{**SMALL, "width": 64, "height": 96}), ctx)
    assert res.images[0].size == (64, 96)
    assert captured[0].x.shape == (1, 4, 12, 8)


def test_latent_upscale_encodes_at_the_pictures_own_size(ctx, monkeypatch, captured):
    sizes = []
    real = img2img.encode_images
    monkeypatch.setattr(img2img, "encode_images",
                        lambda model, x, **kw: sizes.append(tuple(x.shape[-2:])) or real(model, x, **kw))
    generate(GenerationRequest(init_images=(noise_image(40, 32),), resize_mode=3, **SMALL), ctx)
    assert sizes == [(32, 40)]  # encoded at 40x32, the latent (4x5) stretched to 8x8
    assert captured[0].x.shape[-2:] == (8, 8)


def test_strength_zero_returns_the_init_image_pixel_for_pixel(ctx):
    init = noise_image(64, 64)
    res = generate(GenerationRequest(init_images=(init,), denoising_strength=0.0, **SMALL), ctx)
    assert np.array_equal(pixels(res.images[0]), pixels(init))
    assert parse_generation_parameters(res.infotexts[0])["Denoising strength"] == "0.0"


def test_real_sampling_changes_the_picture_deterministically(ctx):
    req = GenerationRequest(init_images=(noise_image(64, 64),), denoising_strength=0.6, **SMALL)
    a, b = generate(req, ctx).images[0], generate(req, ctx).images[0]
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(req.init_images[0]))


def test_strength_sets_how_much_of_the_schedule_runs(ctx, captured):
    generate(GenerationRequest(init_images=(noise_image(64, 64),), denoising_strength=0.5,
                               **{**SMALL, "steps": 10}), ctx)
    assert len(captured[0].sigmas) - 1 == 6  # t_enc = int(0.5 * 10) = 5 -> 6 steps, as A1111
    low = captured[0].sigmas[0]
    generate(GenerationRequest(init_images=(noise_image(64, 64),), denoising_strength=0.9,
                               **{**SMALL, "steps": 10}), ctx)
    assert captured[1].sigmas[0] > low


def test_fix_steps_setting_runs_exactly_the_slider_steps(ctx, captured, tiny_sd1, sd1_model, tmp_path):
    fixed = engine_context(tiny_sd1, tmp_path, {"img2img_fix_steps": True}, model=sd1_model)
    generate(GenerationRequest(init_images=(noise_image(64, 64),), denoising_strength=0.5,
                               **{**SMALL, "steps": 4}), fixed)
    assert len(captured[0].sigmas) - 1 == 4


def test_noise_multiplier_scales_the_start_noise_and_is_written(ctx, captured, monkeypatch):
    latents = []
    real = img2img.encode_inputs
    monkeypatch.setattr(img2img, "encode_inputs", lambda *a: latents.append(real(*a)) or latents[-1])
    init = noise_image(64, 64)
    plain = generate(GenerationRequest(init_images=(init,), **SMALL), ctx)
    half = generate(GenerationRequest(init_images=(init,), initial_noise_multiplier=0.5, **SMALL), ctx)
    # x = init latent + noise * sigma * multiplier: the added noise halves, the init latent stays.
    added_plain, added_half = captured[0].x - latents[0], captured[1].x - latents[1]
    assert torch.equal(latents[0], latents[1])
    assert added_plain.abs().mean() > 0.1
    assert torch.allclose(added_half, added_plain * 0.5, atol=1e-4)
    assert "Noise multiplier" not in parse_generation_parameters(plain.infotexts[0])
    assert parse_generation_parameters(half.infotexts[0])["Noise multiplier"] == "0.5"


def test_a_list_of_init_images_cycles_over_the_batch(ctx, captured, monkeypatch):
    latents = []
    real = img2img.encode_inputs
    monkeypatch.setattr(img2img, "encode_inputs", lambda *a: latents.append(real(*a)) or latents[-1])
    a, b = noise_image(64, 64, 1), noise_image(64, 64, 2)
    generate(GenerationRequest(init_images=(a, b), batch_size=3, **SMALL), ctx)
    x = latents[0]
    assert x.shape[0] == 3 and torch.equal(x[0], x[2]) and not torch.equal(x[0], x[1])


def test_rgba_palette_and_greyscale_inputs_work(ctx):
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    res = generate(GenerationRequest(init_images=(rgba,), denoising_strength=0.0, **SMALL), ctx)
    assert res.images[0].getpixel((5, 5)) == (255, 255, 255)  # transparent -> img2img_background_color
    grey = Image.new("L", (64, 64), 90)
    pal = grey.convert("P")
    for image in (grey, pal):
        req = GenerationRequest(init_images=(image,), denoising_strength=0.0, **SMALL)
        out = generate(req, ctx).images[0]
        assert out.mode == "RGB" and out.getpixel((3, 3)) == (90, 90, 90)


def test_huge_image_is_resized_not_a_crash(ctx, captured):
    huge = Image.new("RGB", (5000, 4000), (20, 40, 60))
    res = generate(GenerationRequest(init_images=(huge,), **SMALL), ctx)
    assert res.images[0].size == (64, 64)


def test_img2img_saves_in_img2img_images(ctx, captured, tmp_path):
    req = GenerationRequest(init_images=(noise_image(64, 64),), **{**SMALL, "save_images": True})
    res = generate(req, ctx)
    assert res.saved_paths and "img2img-images" in res.saved_paths[0].replace("\\", "/")


@pytest.mark.parametrize("change,message", [
    (dict(init_images=("not an image",)), r"init_images\[0\] is a str, not a picture"),
    (dict(mask=b"png bytes"), "mask is a bytes, not a picture"),
    (dict(resize_mode=9), "resize_mode must be one of 0 Just resize"),
    (dict(inpainting_fill=4), "inpainting_fill must be one of 0 fill, 1 original"),
    (dict(mask_blur_x=-1), "mask_blur_x must be between 0 and"),
    (dict(inpaint_full_res_padding=-4), "inpaint_full_res_padding must be 0 or more"),
    (dict(initial_noise_multiplier=-1.0), "initial_noise_multiplier must be between 0 and 10"),
    (dict(init_images=()), "img2img needs an init image"),
    (dict(denoising_strength=1.5), "denoising strength must be between 0 and 1"),
])
def test_bad_input_gives_a_clear_error(ctx, change, message):
    req = GenerationRequest(init_images=(noise_image(64, 64),), **SMALL).with_changes(**change)
    with pytest.raises(InvalidRequestError, match=message):
        generate(req, ctx)
