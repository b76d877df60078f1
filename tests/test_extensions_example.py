"""The example extension (examples/example-extension) in the running app: installed from its local
folder through the tab's code, it adds a tab, a setting, an API route and a per-step hook; its CSS
and JS reach the page. The A1111-style styler's accordion and settings section are on the page."""

from __future__ import annotations

import json
from pathlib import Path

from modules.cmd_args import parse_args
from modules.extensions.host import load_extensions
from modules.runtime import build_runtime
from tests.fixtures.extensions import styler_files, write_extension
from tests.test_api_harness import start_live_server

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "example-extension"


def labels(config: dict) -> set[str]:
    return {str(c.get("props", {}).get("label")) for c in config["components"]} | {
        str(c.get("props", {}).get("value")) for c in config["components"] if c.get("type") == "markdown"}


def test_example_extension_tab_setting_route_and_step_hook(tmp_path: Path, tiny_sd1: Path) -> None:
    data = tmp_path / "data"
    installer = load_extensions(build_runtime(parse_args(
        ["--data-dir", str(data), "--cpu", "--no-demo-model", "--skip-install", "--no-hashing"], environ={})))
    installer.manager.install(str(EXAMPLE))
    write_extension(data / "extensions" / "styler", styler_files())
    server = start_live_server(data, "--api", ckpt=tiny_sd1)  # a fresh start, as after "Apply and restart UI"
    try:
        assert server.runtime.extensions.errors == []
        with server.client() as client:
            assert client.get("/example-extension/steps").json() == {"jobs": 0, "last_job_steps": 0}
            body = {"prompt": "a cat", "width": 64, "height": 64, "steps": 3, "sampler_name": "Euler"}
            assert client.post("/sdapi/v1/txt2img", json=body).status_code == 200
            assert client.get("/example-extension/steps").json() == {"jobs": 1, "last_job_steps": 3}
            # its own sampler and upscaler: listed, and a job runs with the sampler
            assert "Example Midpoint" in [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
            assert "Example Box" in [u["name"] for u in client.get("/sdapi/v1/upscalers").json()]
            response = client.post("/sdapi/v1/txt2img", json={**body, "sampler_name": "Example Midpoint"})
            assert response.status_code == 200, response.text
            assert "Sampler: Example Midpoint" in json.loads(response.json()["info"])["infotexts"][0]
            assert client.get("/example-extension/steps").json() == {"jobs": 2, "last_job_steps": 3}
            # its extra-network type: the tag changes the picture and writes its infotext key
            plain = client.post("/sdapi/v1/txt2img", json={**body, "seed": 3}).json()
            tagged = client.post("/sdapi/v1/txt2img", json={**body, "seed": 3,
                                                            "prompt": "a cat <example_contrast:0.8>"}).json()
            assert tagged["images"][0] != plain["images"][0]
            info = json.loads(tagged["info"])
            assert "Example contrast: 0.8" in info["infotexts"][0] and "not applied" not in info["comments"]
            options = client.get("/sdapi/v1/options").json()
            assert options["example_greeting"] == "Hello from the example extension"
            assert options["prompt_styler_default_on"] is True
            config = client.get("/config").json()
            page = client.get("/").text
        found = labels(config)
        assert {"Enable Prompt Styler", "Style"} <= found  # the script's accordion on txt2img and img2img
        assert "Hello from the example extension" in found and "Steps of the last job" in found
        tab_labels = {c["props"].get("label") for c in config["components"] if c.get("type") == "tabitem"}
        assert {"Example", "Extensions"} <= tab_labels
        from modules.ui.settings import _all_sections  # the Settings tab builds its sections when opened

        sections = _all_sections(server.runtime.settings.schema)
        assert sections["prompt_styler"] == "Prompt Styler" and sections["ext-example-extension"]
        assert "sduiExampleExtension" in json.dumps(config) + page
    finally:
        server.stop()
