"""Extensions' preload.py: `preload(parser)` adds command-line flags before the flags are parsed.

Runs before anything else, so it only reads the folders named by --data-dir and honours
--disable-all-extensions / --disable-extra-extensions; a failing preload.py is reported and
skipped.
"""

from __future__ import annotations

import argparse
import logging
import runpy
from pathlib import Path

from modules.extensions.extension import extension_folders

log = logging.getLogger(__name__)


def add_extension_flags(parser: argparse.ArgumentParser, argv: list[str], app_root: Path) -> list[str]:
    """Call every preload.py's `preload(parser)`; returns error messages naming the extension."""
    early = argparse.ArgumentParser(add_help=False)
    for flag in ("--data-dir",):
        early.add_argument(flag)
    for flag in ("--disable-all-extensions", "--disable-extra-extensions"):
        early.add_argument(flag, action="store_true")
    known, _ = early.parse_known_args(argv)
    if known.disable_all_extensions:
        return []
    data = Path(known.data_dir).expanduser() if known.data_dir else app_root
    roots = [app_root / "extensions-builtin"] + ([] if known.disable_extra_extensions else [data / "extensions"])
    errors = []
    for root in roots:
        for folder in extension_folders(root):
            script = folder / "preload.py"
            if not script.is_file():
                continue
            try:
                namespace = runpy.run_path(str(script))
                if callable(namespace.get("preload")):
                    namespace["preload"](parser)
            except Exception as err:  # isolation: the app starts without this extension's flags
                errors.append(f"preload.py of extension '{folder.name}' failed: {type(err).__name__}: {err}")
                log.error("%s", errors[-1])
    return errors
