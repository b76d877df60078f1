"""What gradio leaves open under `--gradio-auth`, closed; and a back-off for wrong logins.

Gradio answers `/gradio_api/heartbeat/…`, `/gradio_api/reset` and `/gradio_api/cancel` without
checking the login cookie. Behind a login these must need one too: the middleware here asks
the mounted gradio app whether the request's cookie is a logged-in session, else 401. The same
middleware watches `POST /login`: repeated failures from one address get 429 with Retry-After
(modules/api/auth_throttle.py), a success clears them.
"""

from __future__ import annotations

import json
from typing import Any

from modules.access.auth_throttle import FailureThrottle, retry_after_header

GUARDED = ("/gradio_api/heartbeat/", "/gradio_api/reset", "/gradio_api/cancel")
LOGIN_PATHS = ("/login", "/login/")


def find_gradio_app(app: Any) -> Any:
    """The gradio App that `mount_gradio_app` mounted on `app` (it keeps the login tokens)."""
    for route in getattr(app, "routes", []):
        sub = getattr(route, "app", None)
        if sub is not None and hasattr(sub, "tokens") and hasattr(sub, "cookie_id"):
            return sub
    return None


def _logged_in(gradio_app: Any, headers: dict[bytes, bytes]) -> bool:
    from http.cookies import SimpleCookie

    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed cookie header is simply not a login
        return False
    for name in (f"access-token-{gradio_app.cookie_id}", f"access-token-unsecure-{gradio_app.cookie_id}"):
        if name in cookie and cookie[name].value in gradio_app.tokens:
            return True
    return False


async def _answer(send: Any, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra]})
    await send({"type": "http.response.body", "body": body})


class GradioAuthGuard:
    """Pure ASGI middleware around the whole app (gradio is mounted at "/")."""

    def __init__(self, app: Any, outer: Any, throttle: FailureThrottle) -> None:
        self.app = app
        self.outer = outer  # the FastAPI app, to find the mounted gradio app lazily
        self.throttle = throttle

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        if path.startswith(GUARDED):
            gradio_app = find_gradio_app(self.outer)
            if gradio_app is None or not _logged_in(gradio_app, dict(scope.get("headers") or [])):
                await _answer(send, 401, "Not authenticated: log in first")
                return
        if path in LOGIN_PATHS and scope.get("method") == "POST":
            await self._login(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _login(self, scope: dict, receive: Any, send: Any) -> None:
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.throttle.retry_after(client)
        if wait > 0:
            await _answer(send, 429, f"too many failed logins; try again in {wait:.0f} s", retry_after_header(wait))
            return

        async def watching_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    self.throttle.succeeded(client)
                elif 400 <= message["status"] < 500:
                    self.throttle.failed(client)
            await send(message)

        await self.app(scope, receive, watching_send)
