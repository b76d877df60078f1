"""Model upscalers: spandrel detection of tiny ESRGANs in `.pth` and `.safetensors` layouts, broken
files listed with their reason, tiled inference against untiled, exact output sizes, the folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.cmd_args import parse_args
from modules.upscalers.catalog import UnknownUpscalerError, UpscalerCatalog
from modules.upscalers.folders import upscaler_folders
from modules.upscalers.model_loading import load_descriptor
from modules.upscalers.tiles import run_tiled, tile_starts
from tests.fixtures.tiny_upscalers import write_tiny_esrgan


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("pwned",))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_esrgan(root / "ESRGAN" / "4x-tiny.pth", scale=4)
    write_tiny_esrgan(root / "ESRGAN" / "4x-tiny-st.safetensors", scale=4)
    write_tiny_esrgan(root / "RealESRGAN" / "RealESRGAN_x2plus.pth", scale=2, seed=1)
    (root / "ESRGAN" / "garbage.pth").write_bytes(b"not a model at all")
    torch.save({"weight": _Evil()}, root / "ESRGAN" / "evil.pth")
    from safetensors.torch import save_file

    (root / "DAT").mkdir()
    save_file({"unknown.layer.weight": torch.zeros(2, 2)}, str(root / "DAT" / "mystery.safetensors"))
    return root


@pytest.fixture(scope="module")
def catalog(models_dir: Path) -> UpscalerCatalog:
    args = parse_args(["--models-dir", str(models_dir)], environ={})
    return UpscalerCatalog(upscaler_folders(args, models_dir))


def _image(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_both_layouts_are_detected_as_esrgan_with_their_scale(catalog: UpscalerCatalog) -> None:
    by_name = {e.name: e for e in catalog.list()}
    assert [n for n in by_name][:3] == ["None", "Lanczos", "Nearest"]
    assert by_name["4x-tiny"].scale == 4 and by_name["4x-tiny"].architecture == "ESRGAN"
    assert by_name["4x-tiny"].error is None and by_name["4x-tiny"].kind == "ESRGAN"
    assert by_name["4x-tiny-st"].scale == 4 and by_name["4x-tiny-st"].error is None
    assert by_name["R-ESRGAN 2x+"].scale == 2 and by_name["R-ESRGAN 2x+"].kind == "RealESRGAN"


def test_pth_and_safetensors_of_the_same_weights_give_the_same_pixels(tmp_path: Path) -> None:
    a = load_descriptor(write_tiny_esrgan(tmp_path / "a.pth", seed=3))
    b = load_descriptor(write_tiny_esrgan(tmp_path / "b.safetensors", seed=3))
    x = torch.rand(1, 3, 12, 10)
    with torch.inference_mode():
        assert torch.equal(a(x), b(x))


def test_broken_files_are_listed_with_the_reason_and_refused_by_name(catalog: UpscalerCatalog) -> None:
    by_name = {e.name: e for e in catalog.list()}
    assert "could not be read" in by_name["garbage"].error
    assert "was refused: its pickle asks for" in by_name["evil"].error  # refused by the restricted unpickler, never run
    assert "does not recognise" in by_name["mystery"].error
    assert "garbage" not in catalog.names()
    with pytest.raises(UnknownUpscalerError, match="cannot be used: garbage.pth"):
        catalog.resolve("garbage")
    with pytest.raises(UnknownUpscalerError, match="not found; choose one of: None, Lanczos, Nearest, 4x-tiny"):
        catalog.resolve("4x-UltraSharp")


def test_safetensors_is_preferred_over_a_pth_of_the_same_name(tmp_path: Path) -> None:
    write_tiny_esrgan(tmp_path / "ESRGAN" / "twin.pth")
    write_tiny_esrgan(tmp_path / "ESRGAN" / "twin.safetensors")
    entries = UpscalerCatalog({"ESRGAN": tmp_path / "ESRGAN"}).list()
    assert [e.path.name for e in entries if e.path] == ["twin.safetensors"]


def test_upscale_reaches_the_exact_size_with_as_many_passes_as_needed(catalog: UpscalerCatalog) -> None:
    calls: list[tuple[int, int]] = []
    image = _image(10, 6)
    out = catalog.upscale(image, "4x-tiny", scale=2.0, on_tile=lambda d, t: calls.append((d, t)))
    assert out.size == (20, 12) and calls == [(1, 1)]  # one 4x pass, then Lanczos down to 2x
    calls.clear()
    out = catalog.upscale(image, "R-ESRGAN 2x+", scale=3.0, on_tile=lambda d, t: calls.append((d, t)))
    assert out.size == (30, 18) and len(calls) == 2  # two 2x passes reach 4x, then down to 3x
    assert catalog.upscale(image, "Lanczos", size=(17, 9)).size == (17, 9)
    nearest = np.asarray(catalog.upscale(image, "Nearest", scale=2.0))
    assert np.array_equal(nearest[::2, ::2], np.asarray(image))


def test_a_model_upscale_is_a_real_model_output_not_a_resize(catalog: UpscalerCatalog) -> None:
    image = _image(16, 16)
    model = np.asarray(catalog.upscale(image, "4x-tiny", scale=4.0), dtype=np.int16)
    lanczos = np.asarray(image.resize((64, 64), Image.LANCZOS), dtype=np.int16)
    assert model.shape == lanczos.shape and np.abs(model - lanczos).mean() > 10


def test_tile_starts_cover_the_image_with_the_overlap() -> None:
    assert tile_starts(100, 100, 8) == [0]
    starts = tile_starts(100, 40, 8)
    assert starts[0] == 0 and starts[-1] == 60
    assert all(b - a <= 32 for a, b in zip(starts, starts[1:], strict=False))


def test_tiled_inference_matches_untiled_closely_and_overlap_hides_the_seams(tmp_path: Path) -> None:
    """Measured on the tiny 4x ESRGAN, 96x80 input, tiles of 32: overlap 8 gives max |diff| 0.078
    (mean 0.0024) on a 0..1 scale; without overlap the max is 0.55 (mean 0.014)."""
    model = load_descriptor(write_tiny_esrgan(tmp_path / "m.safetensors"))
    x = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        whole = model(x)
        tiles: list[int] = []
        blended = run_tiled(model, x, 4, 32, 8, on_tile=lambda d, t: tiles.append(t))
        hard = run_tiled(model, x, 4, 32, 0)
    assert blended.shape == whole.shape and tiles[0] == 12  # 4 rows x 3 columns of 32-pixel tiles
    diff, diff_hard = (blended - whole).abs(), (hard - whole).abs()
    assert diff.max() < 0.12 and diff.mean() < 0.005
    assert diff.mean() < diff_hard.mean() / 3 and diff_hard.max() > 0.3


def test_upscaler_folders_follow_the_flags(tmp_path: Path) -> None:
    args = parse_args(["--esrgan-models-path", str(tmp_path / "e"), "--dat-models-path", str(tmp_path / "d")],
                      environ={})
    folders = upscaler_folders(args, tmp_path / "models")
    assert folders["ESRGAN"] == tmp_path / "e" and folders["DAT"] == tmp_path / "d"
    assert folders["RealESRGAN"] == tmp_path / "models" / "RealESRGAN"
    assert set(folders) == {"ESRGAN", "RealESRGAN", "DAT", "SwinIR", "HAT"}


def test_unpickling_never_ran_the_evil_file(capsys: pytest.CaptureFixture[str], catalog: UpscalerCatalog) -> None:
    catalog.list()
    assert "pwned" not in capsys.readouterr().out


def test_upscaler_models_are_handles_in_the_model_cache(tmp_path: Path) -> None:
    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryPolicy

    write_tiny_esrgan(tmp_path / "ESRGAN" / "4x-tiny.safetensors")
    cache = ModelCache(MemoryPolicy.from_flags(use_cpu=True))
    catalog = UpscalerCatalog({"ESRGAN": tmp_path / "ESRGAN"}, cache=cache)
    assert catalog.upscale(_image(8, 8), "4x-tiny", scale=4.0).size == (32, 32)
    keys = [k for k in cache._handles if k.startswith("upscaler/4x-tiny")]
    assert len(keys) == 1 and cache.handle(keys[0]).loaded and cache.handle(keys[0]).kind == "upscaler"
    catalog.upscale(_image(8, 8), "4x-tiny", scale=2.0)
    assert [k for k in cache._handles if k.startswith("upscaler/")] == keys  # reused, not loaded again
