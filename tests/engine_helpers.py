"""Build an EngineContext for a tiny checkpoint without a server (engine-level tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from modules.engine.context import EngineContext
from modules.models.loader import load_checkpoint
from modules.samplers.registry import SamplerRegistry
from modules.settings.store import SettingsStore

ROOT = Path(__file__).resolve().parent.parent


def load_cpu_model(ckpt: Path):
    """A checkpoint loaded in float32 on the CPU, as every engine test runs it."""
    return load_checkpoint(ckpt, device=torch.device("cpu"), dtype=torch.float32, vae_dtype=torch.float32,
                           configs_dir=ROOT / "configs")


def engine_context(ckpt: Path, data_dir: Path, overrides: dict | None = None, model=None) -> EngineContext:
    model = model or load_cpu_model(ckpt)
    store = SettingsStore(data_dir / "config.json")
    return EngineContext(model=model, model_name=ckpt.stem, model_hash="0123456789",
                         settings=store.view(overrides or {}), samplers=SamplerRegistry(), data_dir=data_dir,
                         device=torch.device("cpu"))


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)
