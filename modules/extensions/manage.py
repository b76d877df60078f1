"""What the Extensions tab does, without gradio: install, list, check/update, apply, backup/restore,
and the Available index. Every action that changes the extensions checks access first
(refused under --listen/--share/--server-name unless --enable-insecure-extension-access).

"Apply and restart UI" saves the enabled/disabled lists to config.json and then re-executes the
process with the same command line (the same restart `/sdapi/v1/server-restart` does), so the
extensions' tabs, settings, scripts and routes are live on the new page; the browser reloads
when the server answers again.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.extensions.git_repo import GitError, checkout, git_info, update_status, update_to_upstream
from modules.extensions.install import InstallError, install_from_url
from modules.settings.store import atomic_write_text

DEFAULT_INDEX_URL = "https://raw.githubusercontent.com/AUTOMATIC1111/stable-diffusion-webui-extensions/master/index.json"
SORT_ORDERS = ("newest first", "oldest first", "a-z", "z-a", "internal order", "update time", "create time", "stars")


def reexec_process() -> None:
    """Start this same command line again in this process (after the answer went out)."""
    def later() -> None:
        time.sleep(0.5)
        os.execv(sys.executable, [sys.executable, *sys.argv])

    threading.Thread(target=later, daemon=True).start()


@dataclass
class Row:
    name: str
    remote: str
    branch: str
    commit: str
    date: str
    enabled: bool
    builtin: bool
    status: str
    errors: list[str]


class ExtensionManager:
    def __init__(self, host: Any, restart: Any = reexec_process) -> None:
        self.host = host
        self.restart = restart
        self.statuses: dict[str, str] = {}

    @property
    def paths(self) -> Any:
        return self.host.runtime.paths

    # --- Installed ---------------------------------------------------------------------
    def rows(self) -> list[Row]:
        loaded = {e.name: e for e in self.host.extensions}
        out = []
        for ext in self.host.discover():
            info = git_info(ext.path)
            date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.commit_date)) if info.commit_date else ""
            errors = loaded[ext.name].errors if ext.name in loaded else ext.errors
            out.append(Row(ext.name, info.remote or "", info.branch or "", info.version, date, ext.enabled,
                           ext.builtin, self.statuses.get(ext.name, ""), list(errors)))
        return out

    def check_updates(self) -> dict[str, str]:
        self.host.check_access()
        for ext in self.host.discover():
            if (ext.path / ".git").exists():
                self.statuses[ext.name] = update_status(ext.path)
        return dict(self.statuses)

    def update(self, names: list[str] | None = None) -> list[str]:
        """Update the named extensions (default: those with "new commits"); returns messages."""
        self.host.check_access()
        wanted = names if names is not None else [n for n, s in self.statuses.items() if s == "new commits"]
        messages = []
        for ext in self.host.discover():
            if ext.name not in wanted:
                continue
            try:
                commit = update_to_upstream(ext.path)
                self.statuses[ext.name] = "latest"
                messages.append(f"{ext.name}: updated to {commit[:8]}")
            except GitError as e:
                messages.append(f"{ext.name}: could not update: {e}")
        return messages

    def apply(self, enabled: list[str], disable_all: str = "none", restart: bool = True) -> None:
        """Save which extensions run, then restart (A1111's "Apply and restart UI")."""
        self.host.check_access()
        names = [e.name for e in self.host.discover()]
        unknown = sorted(set(enabled) - set(names))
        if unknown:
            raise ValueError(f"not installed: {', '.join(unknown)}")
        disabled = [n for n in names if n not in enabled]
        self.host.runtime.settings.update({"disabled_extensions": disabled, "disable_all_extensions": disable_all})
        if restart:
            self.host.unload()
            self.restart()

    # --- Install from URL / Available --------------------------------------------------
    def install(self, url: str, branch: str = "", dirname: str = "") -> str:
        self.host.check_access()
        result = install_from_url(url, self.paths.extensions_dir, self.paths.tmp_dir, branch=branch,
                                  dirname=dirname,
                                  run_installer=not getattr(self.host.runtime.args, "skip_install", False))
        return f"Installed into {result.path}. Use Installed tab to restart."

    def installed_remotes(self) -> set[str]:
        return {r.remote.rstrip("/").removesuffix(".git") for r in self.rows() if r.remote}

    # --- Backup/Restore ----------------------------------------------------------------
    def states_dir(self) -> Path:
        return self.paths.data_dir / "config_states"

    def save_state(self, name: str = "") -> Path:
        """config_states/<timestamp>_<name>.json with every extension's commit and enabled flag."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        safe = "".join(c for c in name if c.isalnum() or c in "-_ ").strip().replace(" ", "_")
        state = {"name": name or stamp, "created_at": time.time(), "extensions": {}}
        for row in self.rows():
            state["extensions"][row.name] = {"name": row.name, "remote": row.remote or None,
                                             "branch": row.branch or None, "enabled": row.enabled,
                                             "commit_hash": git_info(self.paths.extensions_dir / row.name).commit_hash
                                             if not row.builtin else None}
        path = self.states_dir() / f"{stamp}{'_' + safe if safe else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(state, indent=4))
        return path

    def list_states(self) -> list[Path]:
        folder = self.states_dir()
        return sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []

    def restore_state(self, filename: str) -> list[str]:
        """Move each saved extension back to its commit and enabled flag; restart to apply."""
        self.host.check_access()
        path = self.states_dir() / Path(filename).name  # never a path outside config_states/
        if not path.is_file():
            raise ValueError(f"no saved state {filename!r} in {self.states_dir()}")
        state = json.loads(path.read_text(encoding="utf-8"))
        messages, enabled = [], []
        installed = {e.name: e for e in self.host.discover()}
        for name, saved in state.get("extensions", {}).items():
            ext = installed.get(name)
            if ext is None:
                messages.append(f"{name}: not installed, skipped")
                continue
            if saved.get("enabled"):
                enabled.append(name)
            commit = saved.get("commit_hash")
            if commit and (ext.path / ".git").exists():
                try:
                    checkout(ext.path, commit)
                    messages.append(f"{name}: at {commit[:8]}")
                except GitError as e:
                    messages.append(f"{name}: could not restore {commit[:8]}: {e}")
        enabled += [n for n in installed if n not in state.get("extensions", {})]
        self.apply(enabled, restart=False)
        return messages


def load_index(source: str, timeout: float = 15) -> dict[str, Any]:
    """An index in A1111's format from a URL or a local JSON file; raises ValueError saying why not."""
    source = (source or "").strip() or DEFAULT_INDEX_URL
    try:
        if "://" in source and not source.startswith("file://"):
            with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 - user's choice
                text = response.read().decode("utf-8")
        else:
            local = Path(source.removeprefix("file://")).expanduser()
            text = local.read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as e:
        raise ValueError(f"Could not load the extension index from {source}: {e}. Without internet access, "
                         "download index.json elsewhere and enter its local path.") from e
    except ValueError as e:
        raise ValueError(f"{source} is not an extension index (JSON): {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("extensions"), list):
        raise ValueError(f"{source} is not an extension index: it needs an \"extensions\" list")
    return data


def filter_index(index: dict[str, Any], *, search: str = "", hide_tags: list[str] | None = None,
                 sort: str = "newest first", installed: set[str] | None = None) -> list[dict[str, Any]]:
    """The index's extensions to show: search in name/description/tags, hidden tags, one order."""
    hide, installed = set(hide_tags or []), installed or set()
    needle = search.strip().lower()
    items = []
    for order, ext in enumerate(index.get("extensions", [])):
        url = str(ext.get("url", "")).rstrip("/").removesuffix(".git")
        tags = set(ext.get("tags", [])) | ({"installed"} if url in installed else set())
        if tags & hide:
            continue
        text = f"{ext.get('name', '')} {ext.get('description', '')} {' '.join(tags)}".lower()
        if needle and needle not in text:
            continue
        items.append({**ext, "tags": sorted(tags), "installed": url in installed, "_order": order})
    keys = {
        "newest first": (lambda e: e.get("added", ""), True),
        "oldest first": (lambda e: e.get("added", ""), False),
        "a-z": (lambda e: str(e.get("name", "")).lower(), False),
        "z-a": (lambda e: str(e.get("name", "")).lower(), True),
        "internal order": (lambda e: e["_order"], False),
        "update time": (lambda e: e.get("commit_time", ""), True),
        "create time": (lambda e: e.get("created_at", ""), True),
        "stars": (lambda e: e.get("stars", 0), True),
    }
    key, reverse = keys.get(sort, keys["internal order"])
    return sorted(items, key=key, reverse=reverse)


__all__ = ["DEFAULT_INDEX_URL", "ExtensionManager", "InstallError", "filter_index", "load_index"]
