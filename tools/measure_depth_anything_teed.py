"""Time Depth Anything (ViT-L, the extension's `depth_anything_vitl14.pth` architecture) and TEED on
this machine's CPU, with random weights (the released files are not available offline).

Run: `python tools/measure_depth_anything_teed.py [--threads N]`. Prints the parameter count and the
time of one map of a 512x768 image (the network part: the app's own map functions).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from modules.controlnet.preprocessors.depth_anything import depth_map
from modules.controlnet.preprocessors.teed import teed_edges


def _vitl() -> torch.nn.Module:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4,
                            patch_size=14, image_size=518, out_indices=[21, 22, 23, 24], apply_layernorm=True,
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=1024,
                                 neck_hidden_sizes=[256, 512, 1024, 1024], fusion_hidden_size=256)
    return DepthAnythingForDepthEstimation(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(parser.parse_args().threads)
    image = np.random.default_rng(0).integers(0, 255, (512, 768, 3), dtype=np.uint8)
    from controlnet_aux.teed.ted import TED

    for name, net, run in (("depth_anything (ViT-L)", _vitl(), depth_map),
                           ("te_hed (TEED)", TED().eval(), lambda n, i: teed_edges(n, i, 2))):
        params = sum(p.numel() for p in net.parameters()) / 1e6
        start = time.perf_counter()
        run(net, image)
        print(f"{name}: {params:.2f} M parameters, {time.perf_counter() - start:.1f} s per 512x768 map")


if __name__ == "__main__":
    main()
