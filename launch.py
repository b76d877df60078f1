"""Entry point: parse flags, install requirements unless --skip-install, start the app.

`webui.sh` / `webui.bat` create the venv and call this file with the venv's Python.
Installing is skipped when requirements.txt has not changed since the last successful
install (its hash is kept in the venv), so a normal start pays nothing for it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def requirements_installed_marker() -> Path:
    return Path(sys.prefix) / ".webui-requirements.sha256"


def install_requirements(req_file: Path) -> None:
    """pip-install the pinned requirements once per change of the file."""
    digest = hashlib.sha256(req_file.read_bytes()).hexdigest()
    marker = requirements_installed_marker()
    if marker.exists() and marker.read_text().strip() == digest:
        return
    print(f"Installing requirements from {req_file.name} ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-r", str(req_file)], check=True)
    marker.write_text(digest)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DISABLE_TELEMETRY", "1")
    sys.path.insert(0, str(ROOT))
    from modules.cmd_args import parse_args
    from modules.extensions.preload import add_extension_flags

    args = parse_args(sys.argv[1:] if argv is None else argv,
                      extend=lambda parser, full: add_extension_flags(parser, full, ROOT))
    from modules.console_log import configure_console_logging

    configure_console_logging(args.loglevel)  # before the runtime, so start-up warnings show too
    if not (args.skip_install or args.skip_prepare_environment):
        install_requirements(Path(os.environ.get("REQS_FILE", ROOT / "requirements.txt")))
    from modules.runtime import build_runtime
    from modules.server import serve

    serve(build_runtime(args))


if __name__ == "__main__":
    main()
