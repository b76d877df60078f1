"""`/file=<path>` serves an enabled extension's own files (as A1111 does for extension JavaScript:
style sheets, tag lists), by a path relative to the app or an absolute one, and nothing else:
no code, nothing under .git, nothing outside the folder, nothing of a disabled extension."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")

from tests.fixtures.extensions import write_extension  # noqa: E402
from tests.test_api_harness import LiveServer, start_live_server  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    data = tmp_path_factory.mktemp("ext-files")
    write_extension(data / "extensions" / "tags-ext", {
        "tags/list.csv": "cat,0\ndog,0\n", "style.css": "#x { color: red }\n", "scripts/s.py": "X = 1\n",
        ".git/config": "[core]\n"})
    write_extension(data / "extensions" / "off-ext", {"tags/list.csv": "secret\n"})
    (data / "config.json").write_text('{"disabled_extensions": ["off-ext"]}', encoding="utf-8")
    (data / "outside.txt").write_text("OUTSIDE-CONTENT", encoding="utf-8")
    server = start_live_server(data)
    yield server, data
    server.stop()


def test_extension_files_are_served_and_nothing_else(live: tuple[LiveServer, Path]) -> None:
    server, data = live
    with server.client() as c:
        assert c.get("/file=extensions/tags-ext/tags/list.csv").text == "cat,0\ndog,0\n"
        assert c.get(f"/file={data}/extensions/tags-ext/style.css").text == "#x { color: red }\n"  # absolute
        for refused in ("extensions/tags-ext/scripts/s.py", "extensions/tags-ext/.git/config",
                        "extensions/tags-ext/../../outside.txt", "outside.txt", f"{data}/outside.txt",
                        "extensions/off-ext/tags/list.csv", "extensions/tags-ext/missing.csv"):
            r = c.get(f"/file={refused}")
            assert r.status_code == 404 and "OUTSIDE-CONTENT" not in r.text and "secret" not in r.text, refused
        assert "only those are served here" in c.get("/file=extensions/tags-ext/scripts/s.py").text
