"""Start-up and card-list cost with 5,000 LoRA files (header-only files in 50 subfolders).

    nice venv/bin/python bench/extra_networks_scale.py

Times `build_runtime` + `create_app` (what launch.py does before serving) on an empty data folder
and on one with 5,000 LoRAs, then the server-side card list of the Lora tab (first: scan + build;
again: build from the kept scan) and a LoRA lookup by name and by alias. The browser side (tab
open, search) is measured by tests/browser/test_ui_browser_extra_networks.py.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start(data: Path) -> tuple[float, object]:
    from modules.cmd_args import parse_args
    from modules.runtime import build_runtime
    from modules.server import create_app

    t = time.perf_counter()
    runtime = build_runtime(parse_args(["--data-dir", str(data), "--no-hashing"], environ={}))
    create_app(runtime)
    return time.perf_counter() - t, runtime


def main() -> None:
    from modules.networks.cards import cards
    from tests.browser.test_ui_browser_extra_networks import fill_lora_folder

    with tempfile.TemporaryDirectory() as tmp:
        empty, full = Path(tmp) / "empty", Path(tmp) / "full"
        empty.mkdir()
        fill_lora_folder(full / "models" / "Lora")
        start(empty)  # warm the imports
        t_empty, rt = start(empty)
        rt.shutdown()
        t_full, rt = start(full)
        print(f"start-up (build_runtime + create_app): no LoRAs {t_empty:.2f} s, 5,000 LoRAs {t_full:.2f} s; "
              f"folder scanned at start-up: {rt.networks.loras.scanned}")
        t = time.perf_counter()
        items = cards("lora", rt.networks.loras)
        first = time.perf_counter() - t
        t = time.perf_counter()
        cards("lora", rt.networks.loras)
        again = time.perf_counter() - t
        print(f"Lora card list: first (scan + build) {first:.3f} s, again {again:.3f} s, {len(items)} cards")
        t = time.perf_counter()
        rt.networks.loras.find("style_04999")
        by_name = time.perf_counter() - t
        t = time.perf_counter()
        rt.networks.loras.find("no-such-name")
        by_alias = time.perf_counter() - t
        print(f"lookup by name {by_name * 1000:.1f} ms; a miss (reads every header for aliases once) {by_alias:.2f} s")
        rt.shutdown()


if __name__ == "__main__":
    main()
