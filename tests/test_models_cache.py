"""Memory policy rules and the model cache: switching, failures, freeing, component scopes."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import psutil
import pytest
import torch

from modules.models.cache import ModelCache, ModelLoadError
from modules.models.memory import MemoryMode, MemoryPolicy, release_freed_memory
from modules.models.sd_model import ModelFamily

CPU = MemoryPolicy.from_flags(device="cpu")


@pytest.mark.parametrize(
    ("policy", "storage", "unet", "vae"),
    [
        (CPU, "cpu", torch.float32, torch.float32),
        (MemoryPolicy(MemoryMode.NORMAL, "cuda"), "cuda", torch.float16, torch.float16),
        (MemoryPolicy(MemoryMode.NORMAL, "cuda", no_half_vae=True), "cuda", torch.float16, torch.float32),
        (MemoryPolicy(MemoryMode.NORMAL, "cuda", no_half=True), "cuda", torch.float32, torch.float32),
        (MemoryPolicy(MemoryMode.MEDVRAM, "cuda"), "cpu", torch.float16, torch.float16),
        (MemoryPolicy(MemoryMode.LOWVRAM, "cuda:1"), "cpu", torch.float16, torch.float16),
    ],
)
def test_policy_placement_and_dtypes(
    policy: MemoryPolicy, storage: str, unet: torch.dtype, vae: torch.dtype
) -> None:
    assert policy.storage_device("unet") == torch.device(storage)
    assert policy.storage_device("text_encoders") == torch.device(storage)
    assert (policy.dtype("unet"), policy.dtype("text_encoders"), policy.dtype("vae")) == (unet, unet, vae)


def test_policy_from_flags() -> None:
    assert CPU.mode is MemoryMode.CPU and CPU.compute_device == torch.device("cpu")
    assert MemoryPolicy.from_flags(medvram=True, device="cuda").mode is MemoryMode.MEDVRAM
    assert MemoryPolicy.from_flags(lowvram=True, medvram=True, device="cuda").mode is MemoryMode.LOWVRAM
    assert MemoryPolicy.from_flags(use_cpu=True, medvram=True, device="cuda").mode is MemoryMode.CPU
    assert MemoryPolicy.from_flags(device="cuda", no_half_vae=True).dtype("vae") == torch.float32
    with pytest.raises(
        ValueError, match="Unknown model component 'clip'; expected one of unet, vae, text_encoders"
    ):
        CPU.dtype("clip")


def test_get_switch_and_free(tiny_sd1: Path, tiny_sd2: Path) -> None:
    cache = ModelCache(CPU)
    first = cache.get(tiny_sd1, "one")
    assert cache.get(tiny_sd1) is first  # no reload for the current checkpoint
    old_unet = weakref.ref(first.unet)
    del first
    second = cache.get(tiny_sd2, "two")
    assert (second.family, second.title, cache.current) == (ModelFamily.SD2, "two", second)
    gc.collect()
    assert old_unet() is None, "the previous model is still referenced after a switch"


def test_failed_load_keeps_the_current_model(tmp_path: Path, tiny_sd1: Path) -> None:
    cache = ModelCache(CPU)
    current = cache.get(tiny_sd1, "good")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ModelLoadError, match=r"broken.safetensors.*'good' stays loaded") as info:
        cache.get(broken)
    assert info.value.kept == "good"
    assert cache.current is current
    with cache.use("unet") as unet:
        assert unet is current.unet


def test_unload_reload_and_use(tiny_sd1: Path) -> None:
    cache = ModelCache(CPU)
    with pytest.raises(ModelLoadError, match="nothing to reload"):
        cache.reload()
    with pytest.raises(ModelLoadError, match="No checkpoint is loaded"):
        with cache.use("unet"):
            pass
    model = cache.get(tiny_sd1, "t")
    with cache.use("text_encoders") as encoders:
        assert encoders is model.text_encoders
    reloaded = cache.reload()
    assert reloaded is not model and reloaded.title == "t" and cache.current is reloaded
    cache.unload()
    assert cache.current is None


def test_medvram_keeps_one_component_resident(tiny_sd1: Path) -> None:
    """On the CPU the moves are no-ops, but the bookkeeping is the same as on a GPU."""
    cache = ModelCache(MemoryPolicy(MemoryMode.MEDVRAM, "cpu"))
    cache.get(tiny_sd1)
    assert cache.resident is None
    for component in ("text_encoders", "unet", "vae"):
        with cache.use(component):
            assert cache.resident == component
    with pytest.raises(ValueError, match="Unknown model component"):
        with cache.use("clip"):
            pass


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_medvram_moves_components_on_gpu(tiny_sd1: Path) -> None:
    cache = ModelCache(MemoryPolicy(MemoryMode.MEDVRAM, "cuda"))
    cache.get(tiny_sd1)
    assert cache.device_of("unet").type == "cpu"
    with cache.use("unet"):
        assert (cache.device_of("unet").type, cache.device_of("vae").type) == ("cuda", "cpu")
    with cache.use("vae"):
        assert (cache.device_of("unet").type, cache.device_of("vae").type) == ("cpu", "cuda")


def test_resident_memory_does_not_grow_over_switches(tiny_sd1: Path, tiny_sd2: Path) -> None:
    """10 switches between two tiny checkpoints (14 and 21 MB): RSS may grow by at most 40 MB.

    Leaking one model per switch would add at least 10 x 14 MB = 140 MB, so the tolerance
    separates a leak from allocator noise.
    """
    cache = ModelCache(CPU)
    process = psutil.Process()
    for path in (tiny_sd1, tiny_sd2):  # warm up imports, caches and allocator pools
        cache.get(path)
    release_freed_memory()
    baseline = process.memory_info().rss
    for i in range(10):
        cache.get(tiny_sd1 if i % 2 == 0 else tiny_sd2)
    release_freed_memory()
    grown_mb = (process.memory_info().rss - baseline) / 2**20
    assert grown_mb < 40, f"RSS grew by {grown_mb:.1f} MB over 10 switches"
