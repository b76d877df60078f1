"""Time and measure peak memory of a 4x model upscale and a 2048x2048 VAE decode, tiled and untiled.

    venv/bin/python bench/upscale_vae_bench.py [--decode-size 2048] [--upscale-size 256] [--threads 1]

Each measurement runs in a fresh subprocess, so its peak RSS (ru_maxrss) is its own: the VAE is the
demo model's (loaded by the app's loader), the upscaler a full-size ESRGAN (RRDBNet, 64 features,
23 blocks, random weights, written in Real-ESRGAN's layout and loaded through spandrel). Tiled
runs use the app's settings (VAE tiles 512 px / overlap 64; ESRGAN_tile 192 / overlap 8). Prints
a table and writes JSON to bench/results/upscale_vae.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VAE_TILED = {"tiled_vae": "Always", "tiled_vae_tile_size": 512, "tiled_vae_overlap": 64}
VAE_WHOLE = {"tiled_vae": "Never"}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scene(size: int) -> "object":
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (30, 60, 220))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(220, 30, 30))
    return image


def child_decode(mode: str, latents_file: Path, out_file: Path) -> dict:
    from modules.engine.decode import decode_latents, to_pil
    from modules.models.loader import load_checkpoint
    from modules.paths import DEMO_MODEL_FILE

    model = load_checkpoint(DEMO_MODEL_FILE, is_demo=True)
    latents = torch.load(latents_file)
    before = _peak_mib()
    start = time.perf_counter()
    with torch.inference_mode():
        image = to_pil(decode_latents(model, latents, VAE_TILED if mode == "tiled" else VAE_WHOLE))[0]
    seconds = time.perf_counter() - start
    np.save(out_file, np.asarray(image))
    return {"seconds": seconds, "peak_rss_mib": _peak_mib(), "peak_before_mib": before}


def child_upscale(mode: str, model_file: Path, size: int, out_file: Path) -> dict:
    from modules.upscalers.catalog import UpscalerCatalog

    catalog = UpscalerCatalog({"ESRGAN": model_file.parent})
    settings = {"ESRGAN_tile": 192 if mode == "tiled" else 0, "ESRGAN_tile_overlap": 8}
    catalog.upscale(_scene(16), "4x-bench", scale=4.0, settings=settings)  # loads the model
    before = _peak_mib()
    start = time.perf_counter()
    image = catalog.upscale(_scene(size), "4x-bench", scale=4.0, settings=settings)
    seconds = time.perf_counter() - start
    np.save(out_file, np.asarray(image))
    return {"seconds": seconds, "peak_rss_mib": _peak_mib(), "peak_before_mib": before}


def _run_child(args: list[str], threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", *args, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _max_diff(a: Path, b: Path) -> tuple[int, float]:
    x, y = np.load(a).astype(np.int16), np.load(b).astype(np.int16)
    d = np.abs(x - y)
    return int(d.max()), float(d.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decode-size", type=int, default=2048)
    parser.add_argument("--upscale-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs="+")
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    if ns.child:
        kind, mode, src, out = ns.child[:4]
        result = (child_decode(mode, Path(src), Path(out)) if kind == "decode"
                  else child_upscale(mode, Path(src), int(ns.child[4]), Path(out)))
        print(json.dumps(result))
        return
    results: dict = {"threads": ns.threads}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        from modules.engine.decode import encode_images, from_pil
        from modules.models.loader import load_checkpoint
        from modules.paths import DEMO_MODEL_FILE
        from tests.fixtures.tiny_upscalers import tiny_esrgan_state

        model = load_checkpoint(DEMO_MODEL_FILE, is_demo=True)
        with torch.inference_mode():
            latents = encode_images(model, from_pil([_scene(ns.decode_size)]), settings=VAE_TILED)
        torch.save(latents / model.vae_scaling_factor * model.vae_scaling_factor, tmp / "latents.pt")
        del model
        for mode in ("whole", "tiled"):
            results[f"decode_{mode}"] = _run_child(["decode", mode, str(tmp / "latents.pt"),
                                                    str(tmp / f"decode_{mode}.npy")], ns.threads)
            print(f"decode {ns.decode_size}^2 {mode}: {results[f'decode_{mode}']}", flush=True)
        results["decode_max_diff"], results["decode_mean_diff"] = _max_diff(tmp / "decode_whole.npy",
                                                                            tmp / "decode_tiled.npy")
        from safetensors.torch import save_file

        (tmp / "esrgan").mkdir()
        save_file(tiny_esrgan_state(scale=4, feat=64, blocks=23), str(tmp / "esrgan" / "4x-bench.safetensors"))
        for mode in ("whole", "tiled"):
            results[f"upscale_{mode}"] = _run_child(["upscale", mode, str(tmp / "esrgan" / "4x-bench.safetensors"),
                                                     str(tmp / f"up_{mode}.npy"), str(ns.upscale_size)], ns.threads)
            print(f"4x upscale {ns.upscale_size}^2 {mode}: {results[f'upscale_{mode}']}", flush=True)
        results["upscale_max_diff"], results["upscale_mean_diff"] = _max_diff(tmp / "up_whole.npy",
                                                                              tmp / "up_tiled.npy")
    results.update(decode_size=ns.decode_size, upscale_size=ns.upscale_size)
    out = ROOT / "bench" / "results" / "upscale_vae.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
