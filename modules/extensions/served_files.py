"""Which file `/file=<path>` serves: A1111 extensions fetch their own files that way (a style
sheet, tag lists, pictures), by a path relative to the app folder (`extensions/<name>/...`) or an
absolute one built from `scripts.basedir()`.

Only a plain file inside an enabled extension's folder is served: never a path that leaves it
(`..`, links resolved first), nothing under `.git`, and no code or model weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOT_SERVED = frozenset({".py", ".pyc", ".ckpt", ".safetensors", ".pt", ".pth", ".bin", ".onnx", ".pkl"})


def extension_file(host: Any, data_dir: Path, app_root: Path, requested: str) -> Path | None:
    """The file `requested` names, or None when it is not an enabled extension's servable file."""
    if not requested or "\x00" in requested:
        return None
    given = Path(requested)
    candidates = [given] if given.is_absolute() else [data_dir / given, app_root / given]
    roots = [ext.path.resolve() for ext in host.extensions if ext.enabled]
    for candidate in candidates:
        resolved = candidate.resolve()
        for root in roots:
            if not resolved.is_relative_to(root):
                continue
            inside = resolved.relative_to(root).parts
            if resolved.is_file() and ".git" not in inside and resolved.suffix.lower() not in NOT_SERVED:
                return resolved
    return None
