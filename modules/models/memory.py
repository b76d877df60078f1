"""The memory policy: where each model component lives and in which dtype.

One explicit object instead of A1111's scattered flags and hooks. Modes:
- normal: everything on the compute device.
- medvram: components are stored on the CPU and only the one in use sits on the GPU
  (text encoders → UNet → VAE each take their turn), as A1111's --medvram does.
- lowvram: for now the same as medvram (A1111 also splits the UNet block by block; that finer
  swapping is a later step).
- cpu: everything on the CPU in fp32.
Dtypes: fp32 on the CPU (half precision is slow or unsupported there); fp16 on an accelerator
unless no_half; the VAE in fp32 when no_half_vae (the usual cure for NaN/black images).
"""

from __future__ import annotations

import ctypes
import enum
import gc
import sys
from dataclasses import dataclass

import torch

COMPONENTS = ("unet", "vae", "text_encoders")


class MemoryMode(enum.StrEnum):
    NORMAL = "normal"
    MEDVRAM = "medvram"
    LOWVRAM = "lowvram"
    CPU = "cpu"


@dataclass(frozen=True)
class MemoryPolicy:
    """Placement rules for model components; built once from the command-line flags."""

    mode: MemoryMode = MemoryMode.NORMAL
    device: str = "cuda"
    no_half: bool = False
    no_half_vae: bool = False

    @classmethod
    def from_flags(
        cls,
        *,
        medvram: bool = False,
        lowvram: bool = False,
        use_cpu: bool = False,
        no_half: bool = False,
        no_half_vae: bool = False,
        device: str | None = None,
    ) -> "MemoryPolicy":
        """Choose the mode the way the flags ask; without CUDA everything runs in cpu mode."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if use_cpu or torch.device(device).type == "cpu":
            return cls(MemoryMode.CPU, "cpu", no_half=True, no_half_vae=True)
        mode = MemoryMode.LOWVRAM if lowvram else MemoryMode.MEDVRAM if medvram else MemoryMode.NORMAL
        return cls(mode, device, no_half=no_half, no_half_vae=no_half_vae)

    @property
    def compute_device(self) -> torch.device:
        return torch.device("cpu" if self.mode is MemoryMode.CPU else self.device)

    @property
    def swaps(self) -> bool:
        """Whether components are moved to the compute device only while used."""
        return self.mode in (MemoryMode.MEDVRAM, MemoryMode.LOWVRAM)

    def storage_device(self, component: str) -> torch.device:
        """Where a component rests between uses (and where it is loaded)."""
        _check_component(component)
        return torch.device("cpu") if self.swaps else self.compute_device

    def dtype(self, component: str) -> torch.dtype:
        _check_component(component)
        if self.compute_device.type == "cpu" or self.no_half:
            return torch.float32
        if component == "vae" and self.no_half_vae:
            return torch.float32
        return torch.float16


def _check_component(component: str) -> None:
    if component not in COMPONENTS:
        raise ValueError(f"Unknown model component '{component}'; expected one of {', '.join(COMPONENTS)}.")


def release_freed_memory(collect_garbage: bool = True) -> None:
    """Give freed model memory back: Python garbage, the CUDA cache, and glibc's free lists.

    Without malloc_trim, glibc keeps large freed arenas and RSS only grows across checkpoint
    switches (A1111's long-standing "RAM leak" reports).
    """
    if collect_garbage:
        gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
