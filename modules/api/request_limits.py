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
