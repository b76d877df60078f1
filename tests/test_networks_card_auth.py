"""The card browser's routes need the UI login when one is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_api_harness import LiveServer, placeholder_checkpoint, start_live_server


@pytest.fixture(scope="module")
def ui_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("cards-auth")
    (data / "models" / "Lora").mkdir(parents=True)
    (data / "models" / "Lora" / "x.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    server = start_live_server(data, "--no-hashing", "--gradio-auth", "bob:secret", ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


def test_card_routes_need_the_login(ui_live: LiveServer) -> None:
    with ui_live.client() as c:
        assert c.get("/sd_extra_networks/cards?page=lora").status_code == 401
        assert c.post("/sd_extra_networks/select-checkpoint", json={"name": "x"}).status_code == 401
        assert c.post("/login", data={"username": "bob", "password": "secret"}).status_code == 200
        cards = c.get("/sd_extra_networks/cards?page=lora")
        assert cards.status_code == 200 and [i["name"] for i in cards.json()["items"]] == ["x"]
