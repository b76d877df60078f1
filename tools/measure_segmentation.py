"""Time the segmentation preprocessors at the released networks' sizes, on this machine's CPU.

The released weights are not available offline, so each network is built in its released
architecture with random weights, saved as a transformers folder and run through the app's own
registry (load once, then one 512 px map). Run: `python tools/measure_segmentation.py [--threads N]
[--only seg_segformer_ade20k ...]`. Prints the parameter count, the load time and the map time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modules.controlnet.preprocessors.registry import PreprocessorRegistry

STAGES = ["stage1", "stage2", "stage3", "stage4"]


def _oneformer_swin_large() -> Any:
    from transformers import OneFormerConfig, OneFormerForUniversalSegmentation, OneFormerImageProcessor, SwinConfig

    swin = SwinConfig(embed_dim=192, depths=[2, 2, 18, 2], num_heads=[6, 12, 24, 48], window_size=12,
                      image_size=384, out_features=STAGES)
    model = OneFormerForUniversalSegmentation(OneFormerConfig(backbone_config=swin, num_labels=150))
    return model, OneFormerImageProcessor(size={"shortest_edge": 512, "longest_edge": 2048}, num_text=134)


def _upernet_convnext_small() -> Any:
    from transformers import ConvNextConfig, SegformerImageProcessor, UperNetConfig, UperNetForSemanticSegmentation

    backbone = ConvNextConfig(depths=[3, 3, 27, 3], hidden_sizes=[96, 192, 384, 768], out_features=STAGES)
    model = UperNetForSemanticSegmentation(UperNetConfig(backbone_config=backbone, num_labels=150,
                                                         auxiliary_in_channels=384))
    return model, SegformerImageProcessor(size={"height": 512, "width": 512})


def _segformer_b0() -> Any:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    return (SegformerForSemanticSegmentation(SegformerConfig(num_labels=150)),
            SegformerImageProcessor(size={"height": 512, "width": 512}))


BUILDS = {"seg_ofade20k": ("oneformer_ade20k_swin_large", _oneformer_swin_large),
          "seg_upernet_ade20k": ("upernet-convnext-small", _upernet_convnext_small),
          "seg_segformer_ade20k": ("segformer-b0-finetuned-ade-512-512", _segformer_b0)}


def measure(module: str, root: Path) -> str:
    from transformers import CLIPTokenizer

    from modules.text.clip_tokenizer import CLIP_TOKENIZER_DIR

    folder_name, build = BUILDS[module]
    model, processor = build()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    model.save_pretrained(root / folder_name)
    processor.save_pretrained(root / folder_name)
    if module == "seg_ofade20k":
        CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR).save_pretrained(root / folder_name)
    del model
    image = np.random.default_rng(0).integers(0, 255, (512, 768, 3), dtype=np.uint8)
    reg = PreprocessorRegistry(root)
    start = time.perf_counter()
    reg.run(module, image, processor_res=512)  # loads, then maps
    first = time.perf_counter() - start
    start = time.perf_counter()
    out, _ = reg.run(module, image, processor_res=512)
    second = time.perf_counter() - start
    return (f"{module}: {params:.1f} M parameters, first map (load + run) {first:.1f} s, "
            f"next map {second:.1f} s, map {out.shape[1]}x{out.shape[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=list(BUILDS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for module in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            print(measure(module, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
