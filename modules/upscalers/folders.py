"""Which folder holds which kind of upscaler model, from A1111's flags and `models/` defaults.

A1111 keeps one folder per upscaler family; users copy models into the folder they know, so we
scan all of them with the same loader (spandrel detects the architecture, not the folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

# folder name under models/ -> the flag (argparse dest) that moves it
UPSCALER_FOLDERS: dict[str, str] = {
    "ESRGAN": "esrgan_models_path",
    "RealESRGAN": "realesrgan_models_path",
    "DAT": "dat_models_path",
    "SwinIR": "swinir_models_path",
    "HAT": "hat_models_path",
}

# which tile settings a folder's models use (A1111 has ESRGAN_tile, DAT_tile and SWIN_tile)
TILE_SETTINGS: dict[str, tuple[str, str]] = {
    "ESRGAN": ("ESRGAN_tile", "ESRGAN_tile_overlap"),
    "RealESRGAN": ("ESRGAN_tile", "ESRGAN_tile_overlap"),
    "HAT": ("ESRGAN_tile", "ESRGAN_tile_overlap"),
    "DAT": ("DAT_tile", "DAT_tile_overlap"),
    "SwinIR": ("SWIN_tile", "SWIN_tile_overlap"),
}

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


def upscaler_folders(args: argparse.Namespace, models_dir: Path) -> dict[str, Path]:
    """Each upscaler kind's folder: its flag when given, else `models/<Kind>`."""
    folders: dict[str, Path] = {}
    for kind, dest in UPSCALER_FOLDERS.items():
        flag = getattr(args, dest, None)
        folders[kind] = Path(flag).expanduser().resolve() if flag else models_dir / kind
    return folders


def model_files(folder: Path) -> list[Path]:
    """Model files directly in a folder (and one level of sub-folders), `.safetensors` first per stem.

    When `x.safetensors` and `x.pth` both exist only the safetensors file is used: it cannot run code.
    """
    if not folder.is_dir():
        return []
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES
             and len(p.relative_to(folder).parts) <= 2]
    by_stem: dict[Path, Path] = {}
    for path in found:
        key = path.with_suffix("")
        if key not in by_stem or path.suffix.lower() == ".safetensors":
            by_stem[key] = path
    return sorted(by_stem.values())
