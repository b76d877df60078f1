"""DeepBooru at full size on this machine: write a random-weight model-resnet_custom_v3.pt with the real
width (64) and 9176 tags, then time the strict load through the app's loader and the tagging of one
picture at 512x512 (the whole path: resize and fill, network, tag string).

    venv/bin/python bench/deepbooru_bench.py [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from modules.deepbooru.model_file import MODEL_NAME, load_deepbooru
from modules.deepbooru.network import REAL_TAG_COUNT, DeepDanbooruNet
from modules.deepbooru.service import DeepBooruTagger
from modules.interrogate.placement import ModelPlacement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state = DeepDanbooruNet().state_dict()
        state["tags"] = [f"tag_{i}" for i in range(REAL_TAG_COUNT)]
        torch.save(state, folder / MODEL_NAME)
        size_mb = (folder / MODEL_NAME).stat().st_size / 1e6
        start = time.perf_counter()
        load_deepbooru(folder / MODEL_NAME)
        load_s = time.perf_counter() - start
        tagger = DeepBooruTagger(folder, ModelPlacement(torch.device("cpu")))
        picture = Image.new("RGB", (768, 512), (120, 90, 200))
        tagger.tag(picture)  # first call loads
        start = time.perf_counter()
        tagger.tag(picture)
        tag_s = time.perf_counter() - start
    print(f"file {size_mb:.1f} MB; strict load {load_s:.2f} s; one picture {tag_s:.2f} s "
          f"({args.threads} CPU thread(s))")


if __name__ == "__main__":
    main()
