"""Where the server may write pictures and text files: inside the data folder, unless the
person running it allowed more folders with `--allowed-output-dir`.

A1111 writes wherever the `outdir_*` settings point, and takes those settings from any API
client (`override_settings`), so a client on the LAN could overwrite any file the server can
write. Here every output folder, from settings, the UI or the API, is resolved and must lie
inside the data folder or an allowed folder. The check is lexical (`..` and absolute paths are
resolved, symlinks are not followed): a symlink the owner placed inside the data folder, e.g.
`outputs` -> another disk, keeps working, while no request can name a path outside.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ALLOW_FLAG = "--allowed-output-dir"


class OutsideDataFolderError(ValueError):
    """A folder or file name that would write outside the allowed folders."""


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def is_inside(path: Path, root: Path) -> bool:
    path, root = _normal(path), _normal(root)
    return path == root or root in path.parents


def resolve_output_folder(configured: str | os.PathLike[str], data_dir: Path,
                          allowed: Iterable[Path] = (), what: str = "output folder") -> Path:
    """`configured` (relative to the data folder, or absolute) as a path inside the allowed roots."""
    text = os.fspath(configured)
    path = Path(text).expanduser()
    path = _normal(path if path.is_absolute() else data_dir / path)
    roots = [data_dir, *allowed]
    if not any(is_inside(path, root) for root in roots):
        raise OutsideDataFolderError(
            f"{what} {text!r} is outside the data folder; use a folder inside it (relative paths "
            f"start there), or start the server with {ALLOW_FLAG} <folder> to allow another one")
    return path


def confined_file(folder: Path, name: str) -> Path:
    """`folder / name`, refusing a name that would leave the folder (after pattern expansion)."""
    path = _normal(folder / name)
    if path.parent != _normal(folder):
        raise OutsideDataFolderError(f"file name {name!r} would be written outside {folder.name!r}")
    return path
