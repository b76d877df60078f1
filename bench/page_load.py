"""Time fresh page loads of the web UI in headless Chromium: navigation start -> Generate button.

    venv/bin/python bench/page_load.py [--loads 5] [--gradio-assets]

Starts the real app (tiny random SD1 checkpoint, as the browser tests do) and opens it `--loads`
times, each in a new browser context (empty cache). `--gradio-assets` turns off the in-memory
asset fast path (modules/ui/frontend_assets.py) so both ways can be compared in the same run.
Prints each load, min and median, and the number of files and bytes fetched; writes JSON to
bench/results/page_load.json. Needs /usr/bin/chromium and playwright (run-tests.sh installs both).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    open_app,
    seconds_to_ready,
    start_live_server,
)

RESOURCES_JS = "performance.getEntriesByType('resource').map(e => e.transferSize)"


def _disable_fast_path() -> None:
    from modules.ui import frontend_assets

    async def passthrough(self, scope, receive, send):  # noqa: ANN001 - ASGI signature
        await self.app(scope, receive, send)

    frontend_assets.FrontendAssetMiddleware.__call__ = passthrough


def _loads(url: str, count: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for _ in range(count):
            page = open_app(browser, url)
            sizes = page.evaluate(RESOURCES_JS)
            rows.append({"seconds": seconds_to_ready(page), "files": len(sizes), "bytes": sum(sizes)})
            page.context.close()
        browser.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--gradio-assets", action="store_true", help="serve assets through gradio (no fast path)")
    args = ap.parse_args()
    if args.gradio_assets:
        _disable_fast_path()
    from modules.models.sd_model import ModelFamily
    from tests.fixtures.tiny_models import make_tiny_checkpoint

    tmp = Path(tempfile.mkdtemp())
    server = start_live_server(tmp / "data", make_tiny_checkpoint(ModelFamily.SD1, tmp / "tiny.safetensors"))
    try:
        rows = _loads(server.url, args.loads)
    finally:
        server.stop()
    seconds = [r["seconds"] for r in rows]
    for i, r in enumerate(rows, 1):
        print(f"load {i}: {r['seconds']:.3f} s, {r['files']} files, {r['bytes'] / 1024:.0f} KiB")
    print(f"min {min(seconds):.3f} s, median {statistics.median(seconds):.3f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "page_load_gradio_assets.json" if args.gradio_assets else "page_load.json"
    (out / name).write_text(json.dumps({"loads": rows, "min_s": min(seconds),
                                        "median_s": statistics.median(seconds)}, indent=2))


if __name__ == "__main__":
    main()
