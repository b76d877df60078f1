"""Login credentials for the web UI (`--gradio-auth`, `--gradio-auth-path`), read as A1111 reads them.

Both flags hold `user:password` pairs separated by commas; the file may also put them on
separate lines. A malformed entry stops start-up with a message naming it, instead of
silently leaving the UI open to anyone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

Credentials = list[tuple[str, str]]


class AuthConfigError(ValueError):
    """A credential entry cannot be read; the message names the entry and the expected form."""


def parse_credentials(text: str, source: str = "--gradio-auth") -> Credentials:
    """`"alice:pw1, bob:pw2"` -> [("alice", "pw1"), ("bob", "pw2")]; the password may contain ':'."""
    pairs: Credentials = []
    for raw in text.replace("\n", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            shown = user.strip() or entry
            raise AuthConfigError(f"{source}: entry {shown!r} is not in the form user:password "
                                  "(separate several users with commas)")
        pairs.append((user.strip(), password))
    return pairs


def credentials_from_args(args: argparse.Namespace) -> Credentials | None:
    """All users allowed to log in, or None when no login is required."""
    pairs: Credentials = []
    if getattr(args, "gradio_auth", None):
        pairs += parse_credentials(args.gradio_auth)
    path = getattr(args, "gradio_auth_path", None)
    if path:
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as e:
            raise AuthConfigError(f"--gradio-auth-path: cannot read {file} ({e.strerror or e}); "
                                  "give a text file with user:password entries") from e
        pairs += parse_credentials(text, source=f"--gradio-auth-path {file}")
    return pairs or None
