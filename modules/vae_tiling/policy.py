"""When the VAE works in tiles: the `tiled_vae` setting (Automatic, Always, Never) and OOM retries.

Automatic tiles images above `tiled_vae_min_pixels` and, for smaller ones, retries in tiles when
the whole-image pass runs out of memory, so a user sees a picture instead of an error. Never keeps
the whole-image pass (and its error); Always tiles every image bigger than one tile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LATENT_CELL = 8  # pixels per latent


@dataclass(frozen=True)
class TilePlan:
    """How to tile: `mode` from the setting; sizes in latent cells."""

    mode: str
    tile: int
    overlap: int
    min_pixels: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> TilePlan:
        s = settings or {}
        tile = max(16, int(s.get("tiled_vae_tile_size", 512)) // LATENT_CELL)
        overlap = max(0, int(s.get("tiled_vae_overlap", 64)) // LATENT_CELL)
        return cls(str(s.get("tiled_vae", "Automatic")), tile, min(overlap, tile // 2),
                   int(s.get("tiled_vae_min_pixels", 1024 * 1024)))

    def tiles_first(self, pixels: int) -> bool:
        """Whether to go straight to tiles for an image of `pixels` pixels."""
        if self.mode == "Always":
            return True
        return self.mode == "Automatic" and pixels > self.min_pixels

    @property
    def retry_on_oom(self) -> bool:
        return self.mode != "Never"


def is_out_of_memory(err: BaseException) -> bool:
    """An allocation failure of the accelerator or of the CPU allocator (both mean: try smaller pieces)."""
    if isinstance(err, MemoryError):
        return True
    oom_type = getattr(__import__("torch"), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(err, oom_type):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
