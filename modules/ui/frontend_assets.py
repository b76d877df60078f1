"""Serve gradio's own frontend files (JS chunks, CSS, fonts) from memory, ahead of the app stack.

Why: a fresh page load fetches about 100 files from `/assets/` and `/static/`. Through FastAPI's
router, the mounted gradio app, its middleware and `FileResponse` (stat and read in worker
threads) each costs 4-8 ms of the server's single event loop; the browser asks six at a time,
so the files arrive over ~0.7 s, and gradio brotli-compresses every answer again (14 ms for the
500 KB hls.js). Answered here from bytes read and compressed once, each costs well under a
millisecond, and hashed `/assets/` names get a year of `immutable` caching (gradio sends none).

Only names that exist in gradio's two folders when the app starts are served (the index is
built from a directory walk, so no request path can leave them); anything else, a `Range`
request or another method falls through to gradio unchanged.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any

IMMUTABLE = b"public, max-age=31536000, immutable"
SHORT = b"public, max-age=3600"
BROTLI_QUALITY = 5  # once per file: 20 ms for the largest chunk, within 5 % of the best ratio
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_COMPRESS_BYTES = 1024


def _index(folder: Path) -> dict[str, Path]:
    """Relative POSIX name -> file, for every regular file under `folder`."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            found[path.relative_to(folder).as_posix()] = path
    return found


def _content_type(name: str) -> bytes:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return kind.encode()


def _brotli(content_type: bytes, body: bytes) -> bytes | None:
    if len(body) < MIN_COMPRESS_BYTES or not content_type.decode().startswith(COMPRESSIBLE):
        return None
    import brotli  # a gradio dependency

    return brotli.compress(body, quality=BROTLI_QUALITY)


def _accepts_brotli(scope: dict) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"accept-encoding":
            return any(part.split(b";")[0].strip() == b"br" for part in value.split(b","))
    return False


class FrontendAssetMiddleware:
    """Pure-ASGI wrapper: GET/HEAD `/assets/<name>` and `/static/<name>` answered from memory."""

    def __init__(self, app: Any, folders: dict[str, Path] | None = None) -> None:
        self.app = app
        if folders is None:
            from gradio.routes import BUILD_PATH_LIB, STATIC_PATH_LIB

            folders = {"/assets/": Path(BUILD_PATH_LIB), "/static/": Path(STATIC_PATH_LIB)}
        self.indexes = {prefix: _index(folder) for prefix, folder in folders.items()}
        self.loaded: dict[str, tuple[bytes, bytes, bytes | None]] = {}  # path -> (type, body, brotli body)

    def _lookup(self, scope: dict) -> tuple[str, str, Path] | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        for prefix, index in self.indexes.items():
            if path.startswith(prefix):
                file = index.get(path[len(prefix):])
                return (path, prefix, file) if file is not None else None
        return None

    def _entry(self, path: str, file: Path) -> tuple[bytes, bytes, bytes | None]:
        entry = self.loaded.get(path)
        if entry is None:
            content_type, body = _content_type(file.name), file.read_bytes()
            entry = (content_type, body, _brotli(content_type, body))
            self.loaded[path] = entry
        return entry

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        found = self._lookup(scope)
        if found is None or any(key == b"range" for key, _ in scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        path, prefix, file = found
        try:
            content_type, body, compressed = self._entry(path, file)
        except OSError:  # the file went away since startup: let gradio answer (404)
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", content_type),
                   (b"cache-control", IMMUTABLE if prefix == "/assets/" else SHORT)]
        if compressed is not None:
            headers.append((b"vary", b"accept-encoding"))
            if _accepts_brotli(scope):
                body = compressed
                headers.append((b"content-encoding", b"br"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
