"""Install from URL: clone into a temporary folder, check it, run its install.py, then move it in.

Nothing is left half-installed: every failure removes the temporary folder, and the move into
`extensions/` is the last step. Local folders install too (a git repository is cloned, a plain
folder is copied).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from modules.extensions.git_repo import GitError, git

log = logging.getLogger(__name__)

INSTALL_TIMEOUT_S = 600
ACCESS_REFUSED = ("Extension access is disabled because this server is reachable from other computers "
                  "(--listen, --share or --server-name). Start it with --enable-insecure-extension-access "
                  "to install, update or enable extensions.")


class InstallError(ValueError):
    """A bad URL, name or repository; the message says what to fix."""


def folder_name_for(url: str, dirname: str = "") -> str:
    """The "Local directory name", else the URL's last segment without `.git` (A1111's rule)."""
    name = (dirname or "").strip()
    if not name:
        name = url.rstrip("/\\").replace("\\", "/").split("/")[-1]
        name = name[:-4] if name.endswith(".git") else name
    if not name or name in (".", "..") or ".." in name or re.search(r"[/\\:]", name) or name.startswith("."):
        raise InstallError(f"Local directory name {name!r} is not allowed: use a plain folder name "
                           "without '..', slashes or a leading dot")
    return name


def _source(url: str) -> str:
    """A clone source for git: URLs as given, local folders as absolute paths."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url) or re.match(r"^[\w.-]+@[\w.-]+:", url):
        return url
    local = Path(url).expanduser()
    if not local.exists():
        raise InstallError(f"{url!r} is neither a git URL (https://..., file://...) nor an existing folder")
    return str(local.resolve())


@dataclass(frozen=True)
class InstallResult:
    name: str
    path: Path
    log: str  # output of install.py, if it ran


def run_install_script(folder: Path, timeout: float = INSTALL_TIMEOUT_S) -> str:
    """Run `install.py` with this venv's Python in the extension's folder; returns its output.
    Raises InstallError naming the extension when it fails or runs too long."""
    script = folder / "install.py"
    if not script.is_file():
        return ""
    app_root = Path(__file__).resolve().parents[2]
    env = {**__import__("os").environ, "PYTHONPATH": str(app_root)}
    try:
        done = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise InstallError(f"install.py of extension '{folder.name}' ran longer than {timeout:.0f} s") from e
    output = (done.stdout + done.stderr).strip()
    log.info("install.py of %s:\n%s", folder.name, output)
    if done.returncode != 0:
        tail = " | ".join(output.splitlines()[-3:])
        raise InstallError(f"install.py of extension '{folder.name}' failed (exit code {done.returncode}): {tail}")
    return output


def install_from_url(url: str, extensions_dir: Path, tmp_dir: Path, *, branch: str = "", dirname: str = "",
                     run_installer: bool = True) -> InstallResult:
    """Clone `url` (optionally one branch) as `extensions/<dirname>`; see the module docstring."""
    url = (url or "").strip()
    if not url:
        raise InstallError("URL for extension's git repository is empty: paste the repository's address")
    name = folder_name_for(url, dirname)
    dest = extensions_dir / name
    if dest.exists():
        raise InstallError(f"Extension directory already exists: {dest}. Remove it or choose another "
                           "Local directory name")
    source = _source(url)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    staging = tmp_dir / f"extension-{name}-{uuid.uuid4().hex[:8]}"
    try:
        _fetch(source, staging, branch.strip())
        output = run_install_script(staging) if run_installer else ""
        extensions_dir.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            raise InstallError(f"Extension directory already exists: {dest}")
        shutil.move(str(staging), str(dest))
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return InstallResult(name, dest, output)


def _fetch(source: str, staging: Path, branch: str) -> None:
    local = Path(source)
    if local.is_dir() and not (local / ".git").exists():
        shutil.copytree(local, staging)
        return
    args = ["clone", "--filter=blob:none"] if not local.is_dir() else ["clone"]
    if branch:
        args += ["--branch", branch]
    try:
        git(*args, "--", source, str(staging))
        if (staging / ".gitmodules").is_file():
            git("submodule", "update", "--init", "--recursive", cwd=staging)
    except GitError as e:
        raise InstallError(f"could not clone {source}: {e}") from e
