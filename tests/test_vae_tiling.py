"""Tiled VAE: tiled decode/encode match the whole-image pass closely with the demo model's trained
VAE; Automatic tiles large images and retries after running out of memory; Never and Always force it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.engine.decode import decode_latents, encode_images, from_pil, to_pil
from modules.paths import DEMO_MODEL_FILE
from modules.vae_tiling import codec
from modules.vae_tiling.policy import TilePlan, is_out_of_memory

TILED = {"tiled_vae": "Always", "tiled_vae_tile_size": 256, "tiled_vae_overlap": 64}
WHOLE = {"tiled_vae": "Never"}


@pytest.fixture(scope="module")
def demo() -> Any:
    from modules.models.loader import load_checkpoint

    return load_checkpoint(DEMO_MODEL_FILE, is_demo=True)


def _scene(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (30, 60, 220))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(220, 30, 30))
    return image


def _decode(model: Any, latents: torch.Tensor, settings: dict[str, Any]) -> np.ndarray:
    return np.asarray(to_pil(decode_latents(model, latents, settings))[0], dtype=np.float32)


def _worst_column_jump(image: np.ndarray) -> float:
    """The largest mean jump between neighbouring columns in the background band above the circle."""
    band = image[8:48, 8:248]
    return float(np.abs(np.diff(band, axis=1)).mean(axis=(0, 2)).max())


def test_tiled_decode_reproduces_the_picture_without_seams(demo: Any) -> None:
    """256x256 scene, tiles of 128 px. Measured: whole decode differs from the scene by 31.2 on
    average (the demo VAE was trained at 64x64), tiled by 15.4; tiled vs whole mean 16.5. The worst
    column jump in the background is 2.4 with a 32 px overlap and 38.9 with none (a visible seam)."""
    scene = _scene(256)
    latents = encode_images(demo, from_pil([scene]), settings=WHOLE)
    whole = _decode(demo, latents, WHOLE)
    tiled = _decode(demo, latents, {"tiled_vae": "Always", "tiled_vae_tile_size": 128, "tiled_vae_overlap": 32})
    hard = _decode(demo, latents, {"tiled_vae": "Always", "tiled_vae_tile_size": 128, "tiled_vae_overlap": 0})
    original = np.asarray(scene, dtype=np.float32)
    assert tiled.shape == (256, 256, 3)
    assert np.abs(tiled - original).mean() <= np.abs(whole - original).mean() + 2
    assert np.abs(tiled - whole).mean() < 25
    assert _worst_column_jump(tiled) < 5 and _worst_column_jump(hard) > 20
    assert tiled[128, 128, 0] > 150 and tiled[128, 128, 2] < 100 and tiled[10, 10, 2] > 150  # red on blue


def test_tiled_encode_gives_latents_that_decode_to_the_same_picture(demo: Any) -> None:
    scene = _scene(256)
    images = from_pil([scene])
    tiled_settings = {"tiled_vae": "Always", "tiled_vae_tile_size": 128, "tiled_vae_overlap": 32}
    whole = encode_images(demo, images, settings=WHOLE)
    tiled = encode_images(demo, images, settings=tiled_settings)
    assert tiled.shape == whole.shape == (1, 4, 32, 32)
    original = np.asarray(scene, dtype=np.float32)
    err_whole = np.abs(_decode(demo, whole, tiled_settings) - original).mean()
    err_tiled = np.abs(_decode(demo, tiled, tiled_settings) - original).mean()
    assert err_tiled <= err_whole + 2, (err_tiled, err_whole)


class CountingVae(torch.nn.Module):
    """A stand-in VAE decoder that records input sizes and can fail on big inputs like a full GPU."""

    def __init__(self, fail_above: int | None = None) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.fail_above = fail_above
        self.sizes: list[tuple[int, int]] = []

    def decode(self, z: torch.Tensor, return_dict: bool = False) -> tuple[torch.Tensor]:
        self.sizes.append(tuple(z.shape[-2:]))
        if self.fail_above and z.shape[-1] > self.fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        up = torch.nn.functional.interpolate(z[:, :3], scale_factor=8, mode="nearest")
        return (up * self.w,)


def test_automatic_retries_in_tiles_after_out_of_memory_and_never_does_not() -> None:
    z = torch.rand(1, 4, 96, 96)
    vae = CountingVae(fail_above=64)
    out = codec.decode(vae, z, {"tiled_vae": "Automatic", "tiled_vae_tile_size": 512})
    assert out.shape == (1, 3, 768, 768) and vae.sizes[0] == (96, 96)
    assert vae.sizes[1:] == [(64, 64)] * 5  # a low-resolution pass, then 4 tiles
    assert torch.allclose(out, torch.nn.functional.interpolate(z[:, :3], scale_factor=8), atol=1e-5)
    with pytest.raises(torch.OutOfMemoryError):
        codec.decode(CountingVae(fail_above=64), z, {"tiled_vae": "Never"})


def test_automatic_tiles_large_images_first_and_always_tiles_small_ones() -> None:
    big, small = torch.rand(1, 4, 160, 160), torch.rand(1, 4, 40, 40)
    vae = CountingVae()
    codec.decode(vae, big, {"tiled_vae": "Automatic", "tiled_vae_tile_size": 512, "tiled_vae_overlap": 64})
    assert (160, 160) not in vae.sizes and set(vae.sizes) == {(64, 64)}
    vae = CountingVae()
    codec.decode(vae, small, {"tiled_vae": "Automatic"})
    assert vae.sizes == [(40, 40)]
    vae = CountingVae()
    codec.decode(vae, small, {"tiled_vae": "Always", "tiled_vae_tile_size": 128, "tiled_vae_overlap": 32})
    assert len(vae.sizes) == 1 + 9 and set(vae.sizes) == {(16, 16)}


def test_plan_and_memory_error_detection() -> None:
    plan = TilePlan.from_settings({"tiled_vae": "Automatic", "tiled_vae_tile_size": 512, "tiled_vae_overlap": 64,
                                   "tiled_vae_min_pixels": 1024 * 1024})
    assert (plan.tile, plan.overlap) == (64, 8)
    assert not plan.tiles_first(1024 * 1024) and plan.tiles_first(2048 * 2048)
    assert not TilePlan.from_settings({"tiled_vae": "Never"}).tiles_first(10 ** 9)
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"))
    assert is_out_of_memory(MemoryError()) and not is_out_of_memory(RuntimeError("shape mismatch"))


def test_demo_model_is_the_file_the_app_ships() -> None:
    assert Path(DEMO_MODEL_FILE).is_file()
