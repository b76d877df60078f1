"""Write the trained modules as the app's users' format: one original-layout fp16 .safetensors file
plus a same-named LDM .yaml sidecar (the sizes are not SD1's, and the loader reads them from it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from modules.models.original_layout import (
    original_config_from_diffusers,
    save_original_checkpoint,
    write_original_config,
)
from modules.models.sd_model import ModelFamily
from modules.training.unet_stage import LINEAR_END, LINEAR_START


def canonicalize_safetensors_header(path: Path) -> None:
    """Rewrite the JSON header of a .safetensors file with sorted keys (tensor data untouched).

    Why: the safetensors library keeps metadata in a hash map, so two runs that produce the same
    weights write the header keys in different orders, and the file's sha256 (A1111's model hash)
    differs. With a canonical header, a re-run of the training writes a byte-identical file.
    """
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8:8 + size]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # keep the data 8-byte aligned, as the library does
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(len(header).to_bytes(8, "little") + header + raw[8 + size:])
    os.replace(tmp, path)


def export_checkpoint(path: Path, *, unet: Any, vae: Any, text_encoder: Any, scale_factor: float,
                      metadata: Mapping[str, Any] | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write `path` (.safetensors) and `path.with_suffix('.yaml')`; returns the checkpoint path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"The demo checkpoint must be a .safetensors file, not '{path.name}'.")
    meta = {"demo.world": "shapes-v1", "demo.native_size": "64", "demo.scale_factor": f"{scale_factor:.6f}"}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    save_original_checkpoint(path, unet=unet, vae=vae, text_encoders=[text_encoder], family=ModelFamily.SD1,
                             dtype=dtype, metadata=meta)
    canonicalize_safetensors_header(path)
    config = original_config_from_diffusers(unet.config, vae.config, ModelFamily.SD1,
                                            scale_factor=scale_factor,
                                            linear_start=LINEAR_START, linear_end=LINEAR_END)
    params = config["model"]["params"]
    params["image_size"] = 8  # latent side at the native 64×64
    params["unet_config"]["params"]["image_size"] = 8
    write_original_config(path.with_suffix(".yaml"), config)
    return path
