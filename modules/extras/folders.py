"""Folders that Batch from directory may read from and write to.

A request must never make the server read or write outside the folders its owner chose: the
input folder has to lie inside the data folder or a folder opened with `--gradio-allowed-path`
(or `--allowed-output-dir`), the output folder inside the data folder or an `--allowed-output-dir`.
The check is on the normalised path (`..` resolved), before anything is listed or written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from modules.extras.params import ExtrasInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".avif", ".tif", ".tiff")


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def _inside(path: Path, root: Path) -> bool:
    path, root = _normal(path), _normal(root)
    return path == root or root in path.parents


def confined_folder(text: str, data_dir: Path, roots: Iterable[Path], what: str, flag: str) -> Path:
    """`text` as an absolute folder inside the data folder or one of `roots`, else an ExtrasInputError."""
    path = Path(text.strip()).expanduser()
    path = _normal(path if path.is_absolute() else data_dir / path)
    if not any(_inside(path, root) for root in [data_dir, *roots]):
        raise ExtrasInputError(f"{what} {text!r} is outside the data folder; use a folder inside "
                               f"{data_dir}, or start the server with {flag} <folder> to allow it")
    return path


def input_roots(args: argparse.Namespace) -> list[Path]:
    dirs = list(getattr(args, "gradio_allowed_path", None) or []) + list(getattr(args, "allowed_output_dir", None)
                                                                       or [])
    return [Path(d).expanduser() for d in dirs]


def output_roots(args: argparse.Namespace) -> list[Path]:
    return [Path(d).expanduser() for d in getattr(args, "allowed_output_dir", None) or []]


def images_in(folder: Path) -> list[Path]:
    """The picture files directly inside `folder`, sorted by name."""
    if not folder.is_dir():
        raise ExtrasInputError(f"input folder {folder} does not exist or is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
