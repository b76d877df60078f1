"""The git facts and actions the Extensions tab needs, through the `git` command.

Every call has a timeout and never asks for a password (GIT_TERMINAL_PROMPT=0), so an
unreachable remote is an error message, not a hung page.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_S = 120


class GitError(RuntimeError):
    """A git command failed; the message is git's own last line."""


def git(*args: str, cwd: Path | None = None, timeout: float = GIT_TIMEOUT_S) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "echo"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise GitError("git is not installed; install git and try again") from e
    except subprocess.TimeoutExpired as e:
        raise GitError(f"git {args[0]} took longer than {timeout:.0f} s") from e
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        raise GitError(lines[-1] if lines else f"git {args[0]} failed with exit code {done.returncode}")
    return done.stdout.strip()


@dataclass(frozen=True)
class GitInfo:
    remote: str | None
    branch: str | None
    commit_hash: str | None
    commit_date: int | None  # unix time, as A1111's API

    @property
    def version(self) -> str:
        return (self.commit_hash or "")[:8]


def git_info(folder: Path) -> GitInfo:
    """Remote URL, branch, commit and its date; all None for a folder that is not a git clone."""
    if not (folder / ".git").exists():
        return GitInfo(None, None, None, None)

    def ask(*args: str) -> str | None:
        try:
            return git(*args, cwd=folder, timeout=10) or None
        except GitError:
            return None

    date = ask("log", "-1", "--format=%ct")
    return GitInfo(ask("config", "--get", "remote.origin.url"), ask("rev-parse", "--abbrev-ref", "HEAD"),
                   ask("rev-parse", "HEAD"), int(date) if date and date.isdigit() else None)


def update_status(folder: Path) -> str:
    """A1111's words: "new commits", "latest", "behind HEAD" or "unknown (remote error)"."""
    try:
        git("fetch", "--quiet", "origin", cwd=folder)
        behind = int(git("rev-list", "--count", "HEAD..@{upstream}", cwd=folder) or "0")
    except (GitError, ValueError):
        return "unknown (remote error)"
    return "new commits" if behind > 0 else "latest"


def update_to_upstream(folder: Path) -> str:
    """Fetch and move to the upstream commit (A1111 resets hard); returns the new commit."""
    git("fetch", "--quiet", "origin", cwd=folder)
    git("reset", "--hard", "@{upstream}", cwd=folder)
    return git("rev-parse", "HEAD", cwd=folder)


def checkout(folder: Path, commit: str) -> None:
    """Move an extension to a saved commit (Backup/Restore)."""
    try:
        git("cat-file", "-e", f"{commit}^{{commit}}", cwd=folder)
    except GitError:
        git("fetch", "--quiet", "origin", cwd=folder)
    git("reset", "--hard", commit, cwd=folder)
