"""Time a prompt-only `POST /sdapi/v1/txt2img` with the shipped demo model (a fresh install's API).

    venv/bin/python bench/api_prompt_only.py [--calls 2]

The app is built exactly as launch.py builds it (no --ckpt: the demo model is the model in use)
and called in-process; the first call includes loading the model. Prints status, seconds, the size,
steps, sampler and CFG that were used, and the answer's `info.model_defaults`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--prompt", default="a red circle on a blue background")
    opts = parser.parse_args()
    from fastapi.testclient import TestClient

    from modules.cmd_args import parse_args
    from modules.runtime import build_runtime
    from modules.server import create_app

    runtime = build_runtime(parse_args(["--data-dir", tempfile.mkdtemp(), "--nowebui", "--no-hashing"],
                                       environ={}))
    with TestClient(create_app(runtime)) as client:
        for call in range(opts.calls):
            started = time.perf_counter()
            response = client.post("/sdapi/v1/txt2img", json={"prompt": opts.prompt})
            info = json.loads(response.json()["info"])
            print(f"call {call + 1}: {response.status_code} in {time.perf_counter() - started:.1f} s, "
                  f"{info['width']}x{info['height']}, {info['steps']} steps, {info['sampler_name']}, "
                  f"CFG {info['cfg_scale']}; model_defaults={info.get('model_defaults')}")
    runtime.shutdown()


if __name__ == "__main__":
    main()
