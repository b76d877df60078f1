"""HTTP Basic auth for the API (`--api-auth user:pass,user2:pass2`), as A1111 does it.

Failures answer 401 with `WWW-Authenticate: Basic` so browsers and clients know to retry with
credentials. Comparison uses `secrets.compare_digest` over every pair, so timing does not
reveal which part was wrong. Repeated failures from one address are slowed down
(`auth_throttle`: 429 with Retry-After). The same check guards /docs, /redoc and /openapi.json.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from modules.access.auth_throttle import FailureThrottle, retry_after_header

Credentials = tuple[tuple[str, str], ...]


def parse_credentials(spec: str | None) -> Credentials:
    """`"a:b,c:d"` -> (("a", "b"), ("c", "d")); a malformed entry is an error naming it."""
    if not spec or not spec.strip():
        return ()
    pairs = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            continue
        user, sep, password = entry.partition(":")
        if not sep or not user:
            raise ValueError(f"--api-auth entry {entry!r} is not 'user:password'; "
                             "use --api-auth user:pass,user2:pass2")
        pairs.append((user, password))
    return tuple(pairs)


def credentials_match(given: HTTPBasicCredentials, allowed: Credentials) -> bool:
    """Check all pairs without stopping early."""
    ok = False
    for user, password in allowed:
        user_ok = secrets.compare_digest(given.username.encode(), user.encode())
        password_ok = secrets.compare_digest(given.password.encode(), password.encode())
        ok |= user_ok and password_ok
    return ok


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def basic_auth_check(allowed: Credentials, throttle: FailureThrottle | None = None) -> Callable[..., None]:
    """A dependency that refuses requests without matching credentials."""
    scheme = HTTPBasic(auto_error=False)
    throttle = throttle or FailureThrottle()

    def check(request: Request, given: HTTPBasicCredentials | None = Depends(scheme)) -> None:
        client = client_address(request)
        wait = throttle.retry_after(client)
        if wait > 0:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"too many wrong passwords from {client}; try again in {wait:.0f} s",
                                headers=retry_after_header(wait))
        if given is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "Incorrect username or password (send HTTP Basic credentials)",
                                headers={"WWW-Authenticate": "Basic"})
        if not credentials_match(given, allowed):
            throttle.failed(client)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect username or password",
                                headers={"WWW-Authenticate": "Basic"})
        throttle.succeeded(client)

    return check


def auth_dependencies(spec: str | None, throttle: FailureThrottle | None = None) -> list[DependsParam]:
    """Dependencies to put on every protected router: none when no auth is configured."""
    allowed = parse_credentials(spec)
    return [Depends(basic_auth_check(allowed, throttle))] if allowed else []
