"""Reading checkpoint files into flat `{key: tensor}` dicts in the original (LDM/SGM) layout.

Every way a load can fail is turned into a `CheckpointLoadError` that names the file and what is
wrong with it, because users meet these errors in the UI with a file they downloaded, and "invalid
load key" or "failed finding central directory" tells them nothing.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from modules.models.safe_unpickle import UnsafeCheckpointError, load_pickled_checkpoint

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
CHECKPOINT_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES

# Very old SD1 files were saved with transformers < 4.x, whose CLIP had no `text_model.` level.
_LEGACY_KEY_PREFIXES = {
    "cond_stage_model.transformer.embeddings.": "cond_stage_model.transformer.text_model.embeddings.",
    "cond_stage_model.transformer.encoder.": "cond_stage_model.transformer.text_model.encoder.",
    "cond_stage_model.transformer.final_layer_norm.": (
        "cond_stage_model.transformer.text_model.final_layer_norm."
    ),
}


class CheckpointLoadError(Exception):
    """A checkpoint could not be read or does not describe a model we can build."""


def is_diffusers_folder(path: Path) -> bool:
    """A diffusers pipeline folder is a checkpoint too (model_index.json + unet/ vae/ ...)."""
    return path.is_dir() and (path / "model_index.json").is_file()


def read_state_dict(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a single-file checkpoint (.safetensors, or a pickle via the restricted unpickler).

    A top-level "state_dict" entry (Lightning checkpoints) is unwrapped, non-tensor entries are
    dropped, and legacy CLIP key names are normalised.
    """
    path = Path(path)
    raw = _read_raw(path, device)
    return _normalise(_unwrap(raw, path), path)


def _read_raw(path: Path, device: str | torch.device) -> Any:
    if not path.exists():
        raise CheckpointLoadError(f"Checkpoint '{path}' does not exist.")
    if is_diffusers_folder(path):
        raise CheckpointLoadError(
            f"'{path}' is a diffusers folder, not a single file; "
            "load it with modules.models.loader.load_checkpoint."
        )
    if path.is_dir():
        raise CheckpointLoadError(
            f"'{path}' is a folder without model_index.json, so it is not a diffusers model."
        )
    if path.stat().st_size == 0:
        raise CheckpointLoadError(f"Checkpoint '{path}' is empty (0 bytes); the download probably failed.")
    _refuse_non_model_text(path)
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path, device)
    if suffix in PICKLE_SUFFIXES:
        return _read_pickle(path, device)
    raise CheckpointLoadError(
        f"'{path}' has an unknown checkpoint extension '{path.suffix}'; expected one of "
        f"{', '.join(CHECKPOINT_SUFFIXES)} or a diffusers folder."
    )


def _refuse_non_model_text(path: Path) -> None:
    """Two common download failures: an HTML error page, and a git-lfs pointer from a clone without LFS."""
    with path.open("rb") as f:
        head = f.read(64).lstrip()
    if head.startswith(b"version https://git-lfs"):
        raise CheckpointLoadError(
            f"'{path}' is a git-lfs pointer, not the model: "
            "fetch the real file (git lfs pull) or download it again."
        )
    if head[:1] == b"<" and head[:15].lower().startswith(
        (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")
    ):
        raise CheckpointLoadError(
            f"'{path}' is a web page, not a model (a failed or login-only download?); download it again."
        )


def _read_safetensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    import safetensors.torch

    _check_safetensors_header(path)
    try:
        return safetensors.torch.load_file(str(path), device=str(device))
    except Exception as err:  # safetensors raises its own error types for every kind of damage
        raise CheckpointLoadError(
            f"'{path}' is not a readable safetensors file ({err}); "
            "it may be truncated or corrupt: download it again."
        ) from err


def _check_safetensors_header(path: Path) -> None:
    """Catch truncation up front: the header states how long every tensor is."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointLoadError(f"'{path}' is too short ({size} bytes) to be a safetensors file.")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8:
            raise CheckpointLoadError(
                f"'{path}' is not a safetensors file or is truncated: its header claims {header_len} bytes "
                f"but the file has {size}."
            )
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointLoadError(f"'{path}' has a corrupt safetensors header ({err}).") from err
    ends = [
        int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
    ]
    needed = 8 + header_len + max(ends, default=0)
    if needed > size:
        raise CheckpointLoadError(
            f"'{path}' is truncated: it has {size} bytes but its tensors need {needed}; download it again."
        )


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    """The `__metadata__` strings of a safetensors file (empty for other formats or none)."""
    path = Path(path)
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES or not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_len))
    except (OSError, struct.error, ValueError):
        return {}
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def _read_pickle(path: Path, device: str | torch.device) -> Any:
    try:
        return load_pickled_checkpoint(path, map_location=device)
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, RuntimeError, ValueError, KeyError) as err:
        raise CheckpointLoadError(
            f"'{path}' could not be read as a PyTorch checkpoint ({type(err).__name__}: {err}); "
            "it may be truncated, corrupt or not a checkpoint at all."
        ) from err


def _unwrap(raw: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise CheckpointLoadError(f"'{path}' holds a {type(raw).__name__}, not a state dict of tensors.")
    inner = raw.get("state_dict")
    if isinstance(inner, Mapping):
        return inner
    return raw


def _normalise(raw: Mapping[str, Any], path: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if isinstance(key, str) and isinstance(value, torch.Tensor):
            tensors[_modern_key(key)] = value
    if not tensors:
        raise CheckpointLoadError(f"'{path}' contains no tensors, so it is not a model checkpoint.")
    return tensors


def _modern_key(key: str) -> str:
    for old, new in _LEGACY_KEY_PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key
