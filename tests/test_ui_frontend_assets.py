"""The in-memory fast path for gradio's frontend files: same bytes, caching headers, brotli when
asked, and everything it does not know (other names, `..`, Range, POST) left to the app below.
"""

from __future__ import annotations

from pathlib import Path

import brotli
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from modules.ui.frontend_assets import FrontendAssetMiddleware

SCRIPT = b"export const x = 1;\n" * 200  # big enough to be compressed


def _client(tmp_path: Path) -> tuple[TestClient, list[str]]:
    assets, static = tmp_path / "assets", tmp_path / "static"
    (static / "fonts").mkdir(parents=True)
    assets.mkdir()
    (assets / "Index-abc.js").write_bytes(SCRIPT)
    (static / "fonts" / "a.woff2").write_bytes(b"\x00font")
    (tmp_path / "secret.txt").write_text("no", encoding="utf-8")
    seen: list[str] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def fallback(path: str) -> PlainTextResponse:
        seen.append(path)
        return PlainTextResponse("from the app", status_code=404)

    app.add_middleware(FrontendAssetMiddleware, folders={"/assets/": assets, "/static/": static})
    return TestClient(app), seen


def test_assets_come_from_memory_with_long_caching(tmp_path: Path) -> None:
    client, seen = _client(tmp_path)
    plain = client.get("/assets/Index-abc.js", headers={"accept-encoding": "identity"})
    assert plain.status_code == 200 and plain.content == SCRIPT
    assert plain.headers["content-type"].endswith("javascript; charset=utf-8")
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "accept-encoding"
    raw = client.get("/assets/Index-abc.js", headers={"accept-encoding": "gzip, br"})
    assert raw.content == SCRIPT  # the client decoded it
    compressed = client.stream("GET", "/assets/Index-abc.js", headers={"accept-encoding": "br"})
    with compressed as response:
        body = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "br"
        assert len(body) < len(SCRIPT) / 10 and brotli.decompress(body) == SCRIPT
    font = client.get("/static/fonts/a.woff2")
    assert font.content == b"\x00font" and font.headers["cache-control"] == "public, max-age=3600"
    assert seen == []


def test_unknown_names_traversal_range_and_post_fall_through(tmp_path: Path) -> None:
    client, seen = _client(tmp_path)
    assert client.get("/assets/missing.js").text == "from the app"
    assert client.get("/assets/%2e%2e/secret.txt").text == "from the app"
    assert client.get("/assets/Index-abc.js", headers={"range": "bytes=0-3"}).text == "from the app"
    assert client.post("/assets/Index-abc.js").text == "from the app"
    assert len(seen) == 4


def test_head_answers_headers_only(tmp_path: Path) -> None:
    client, _ = _client(tmp_path)
    response = client.head("/assets/Index-abc.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(SCRIPT))
