"""A bound on request body size, for every route (API, UI uploads, internal).

Without it one POST could make the server hold any amount of base64 in memory. The limit is
`--max-request-mb`; a body announced (Content-Length) or streamed beyond it is refused with
413 before more of it is read.
"""

from __future__ import annotations

import json
from typing import Any


def _too_large(limit: int) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"error": "RequestTooLarge", "detail": f"request body over {limit // (1 << 20)} MB; "
                       "send smaller images or start the server with a larger --max-request-mb",
                       "body": "", "errors": "request body too large"}).encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]}
    return start, body


class BodySizeLimitMiddleware:
    """Pure ASGI: checks Content-Length first, then counts streamed chunks."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        announced = dict(scope.get("headers") or []).get(b"content-length")
        if announced is not None and announced.isdigit() and int(announced) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        start, body = _too_large(self.max_bytes)
        await send(start)
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class ApiMethodGuard:
    """405 (with Allow) for a wrong method on an API path. With the UI mounted at "/", such a
    request would otherwise fall through to gradio's catch-all and answer 404."""

    def __init__(self, app: Any, outer: Any, prefixes: tuple[str, ...] = ("/sdapi/", "/jobs/", "/internal/")) -> None:
        self.app = app
        self.outer = outer
        self.prefixes = prefixes
        self._table: list[tuple[Any, set[str]]] | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefixes):
            allowed = self._allowed_methods(scope)
            if allowed is not None:
                body = json.dumps({"error": "MethodNotAllowed", "detail": f"{scope['method']} is not allowed here; "
                                   f"use {', '.join(sorted(allowed))}", "body": "", "errors": ""}).encode()
                await send({"type": "http.response.start", "status": 405, "headers": [
                    (b"content-type", b"application/json"), (b"allow", ", ".join(sorted(allowed)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _allowed_methods(self, scope: dict) -> set[str] | None:
        """None when some route takes this method (or none knows the path); else its methods.
        Read from the OpenAPI document (FastAPI nests included routers), compiled once."""
        if self._table is None:
            from starlette.routing import compile_path

            self._table = []
            for path, item in self.outer.openapi().get("paths", {}).items():
                methods = {m.upper() for m in item if m in ("get", "put", "post", "delete", "patch", "options")}
                if "GET" in methods:
                    methods.add("HEAD")
                self._table.append((compile_path(path)[0], methods))
        methods: set[str] = set()
        for regex, allowed in self._table:
            if regex.match(scope.get("path", "")):
                if scope.get("method") in allowed:
                    return None
                methods |= allowed
        return methods or None
