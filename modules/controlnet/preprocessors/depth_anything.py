"""Depth Anything v1 and v2 (`depth_anything`, `depth_anything_v2`), run with transformers'
`DepthAnythingForDepthEstimation`, offline.

Two ways to give the network:
- the extension's original checkpoint (`depth_anything_vitl14.pth`, `depth_anything_v2_vitl.pth`:
  a DINOv2 encoder under `pretrained.*` and the DPT head under `depth_head.*`), read through the
  restricted unpickler; its keys are mapped here onto transformers' module names and the
  architecture is read from the weights' shapes (width, depth, patch, MLP, head widths);
- a transformers-format folder (`config.json` + `model.safetensors`), e.g. the content of
  `LiheYoung/depth-anything-large-hf` or `depth-anything/Depth-Anything-V2-Large-hf`.

v1 and v2 differ (for the same architecture) in which encoder layers feed the head: v1 the last
four, v2 evenly spaced ones. The map is made as the extension does: the image resized (bicubic) so
both sides are at least 518 and multiples of 14, ImageNet-normalised; the predicted relative
inverse depth (near = large) resized back to the input and min-max stretched to 0..255, grey.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from modules.controlnet.preprocessors.annotators import (
    Annotator,
    AnnotatorLoadError,
    AnnotatorMissingError,
    AnnotatorStore,
)
from modules.controlnet.preprocessors.image_ops import hwc3
from modules.controlnet.preprocessors.spec import Preprocessor, ProcessorCall

_NET_SIDE = 518  # the short side the network sees
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
_HEAD_DIM = 64  # every DINOv2 size uses 64-wide attention heads
# v2's encoder layers per depth (1-based, as transformers counts them): ViT-S/B, ViT-L, ViT-G.
_V2_LAYERS = {12: [3, 6, 9, 12], 24: [5, 12, 18, 24], 40: [10, 20, 30, 40]}


@dataclass(frozen=True)
class Version:
    key: str  # the extension's annotator subfolder
    filename: str
    folders: tuple[str, ...]  # transformers-format folders accepted instead of the file
    v2: bool


V1 = Version("depth_anything", "depth_anything_vitl14.pth",
             ("depth-anything-large-hf", "depth-anything-base-hf", "depth-anything-small-hf"), False)
V2 = Version("depth_anything_v2", "depth_anything_v2_vitl.pth",
             ("Depth-Anything-V2-Large-hf", "Depth-Anything-V2-Base-hf", "Depth-Anything-V2-Small-hf"), True)


def _unwrap(state: Any) -> dict[str, Any]:
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _out_indices(layers: int, v2: bool) -> list[int]:
    if v2 and layers in _V2_LAYERS:
        return _V2_LAYERS[layers]
    return list(range(layers - 3, layers + 1))


def config_from_original(state: dict[str, Any], v2: bool) -> Any:
    """The transformers config of an original checkpoint, from its weights' shapes."""
    from transformers import DepthAnythingConfig, Dinov2Config

    if any(k.startswith("depth_head.readout_projects") for k in state):
        raise KeyError("a head reading the class token (use_clstoken), which released Depth Anything files lack")
    hidden = int(state["pretrained.cls_token"].shape[-1])
    layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"pretrained\.blocks\.(\d+)\.", k)))
    patch = int(state["pretrained.patch_embed.proj.weight"].shape[-1])
    grid = math.isqrt(int(state["pretrained.pos_embed"].shape[1]) - 1)
    backbone = Dinov2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(1, hidden // _HEAD_DIM),
        mlp_ratio=int(state["pretrained.blocks.0.mlp.fc1.weight"].shape[0]) // hidden, patch_size=patch,
        image_size=grid * patch, out_indices=_out_indices(layers, v2), apply_layernorm=True,
        reshape_hidden_states=False)
    return DepthAnythingConfig(
        backbone_config=backbone, patch_size=patch, reassemble_hidden_size=hidden,
        neck_hidden_sizes=[int(state[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)],
        fusion_hidden_size=int(state["depth_head.scratch.layer1_rn.weight"].shape[0]),
        head_hidden_size=int(state["depth_head.scratch.output_conv2.0.weight"].shape[0]),
        depth_estimation_type="relative")


_FIXED = {
    "pretrained.cls_token": "backbone.embeddings.cls_token",
    "pretrained.mask_token": "backbone.embeddings.mask_token",
    "pretrained.pos_embed": "backbone.embeddings.position_embeddings",
    "pretrained.patch_embed.proj": "backbone.embeddings.patch_embeddings.projection",
    "pretrained.norm": "backbone.layernorm",
    "depth_head.scratch.output_conv1": "head.conv1",
    "depth_head.scratch.output_conv2.0": "head.conv2",
    "depth_head.scratch.output_conv2.2": "head.conv3",
}
_BLOCK_PARTS = {"ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1", "norm1": "norm1",
                "norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2", "attn.proj": "attention.o_proj"}
_RCU = {"resConfUnit1.conv1": "residual_layer1.convolution1", "resConfUnit1.conv2": "residual_layer1.convolution2",
        "resConfUnit2.conv1": "residual_layer2.convolution1", "resConfUnit2.conv2": "residual_layer2.convolution2",
        "out_conv": "projection"}


def _rename(key: str) -> str | None:
    """One original module path -> transformers' (None: not a weight the network has)."""
    for old, new in _FIXED.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old):]
    if m := re.fullmatch(r"pretrained\.blocks\.(\d+)\.(.+?)(\.weight|\.bias)?", key):
        part = _BLOCK_PARTS.get(m.group(2))
        return f"backbone.encoder.layer.{m.group(1)}.{part}{m.group(3) or ''}" if part else None
    if m := re.fullmatch(r"depth_head\.projects\.(\d)\.(weight|bias)", key):
        return f"neck.reassemble_stage.layers.{m.group(1)}.projection.{m.group(2)}"
    if m := re.fullmatch(r"depth_head\.resize_layers\.(\d)\.(weight|bias)", key):
        return f"neck.reassemble_stage.layers.{m.group(1)}.resize.{m.group(2)}"
    if m := re.fullmatch(r"depth_head\.scratch\.layer(\d)_rn\.weight", key):
        return f"neck.convs.{int(m.group(1)) - 1}.weight"
    if m := re.fullmatch(r"depth_head\.scratch\.refinenet(\d)\.(.+)\.(weight|bias)", key):
        part = _RCU.get(m.group(2))  # refinenet4 is the deepest, transformers' first fusion layer
        return f"neck.fusion_stage.layers.{4 - int(m.group(1))}.{part}.{m.group(3)}" if part else None
    return None


def convert_original(state: dict[str, Any]) -> dict[str, Any]:
    """Original Depth Anything keys -> transformers' (the fused qkv split into q, k, v)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if m := re.fullmatch(r"pretrained\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)", key):
            for name, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                out[f"backbone.encoder.layer.{m.group(1)}.attention.{name}.{m.group(2)}"] = chunk
        elif (new := _rename(key)) is not None:
            out[new] = value
    return out


def _from_original(state: Any, v2: bool) -> Any:
    from transformers import DepthAnythingForDepthEstimation

    state = _unwrap(state)
    net = DepthAnythingForDepthEstimation(config_from_original(state, v2))
    net.load_state_dict({k: v.float() for k, v in convert_original(state).items()}, strict=True)
    return net.eval()


def _from_folder(folder: Path) -> Any:
    from transformers import DepthAnythingForDepthEstimation

    try:
        return DepthAnythingForDepthEstimation.from_pretrained(str(folder), local_files_only=True).float().eval()
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise AnnotatorLoadError(f"The folder '{folder}' could not be loaded as Depth Anything ({err})") from err


def _locate_folder(store: AnnotatorStore, version: Version) -> Path | None:
    for name in version.folders:
        for candidate in (store.folder / name, store.folder / version.key / name):
            if (candidate / "config.json").is_file():
                return candidate
    return None


def _network(store: AnnotatorStore, version: Version, annotator: Annotator) -> Any:
    """The .pth when it is there, else a transformers folder; neither: name both."""
    try:
        return store.detector(annotator)
    except AnnotatorMissingError as missing:
        folder = _locate_folder(store, version)
        if folder is None:
            raise AnnotatorMissingError(
                f"{missing} A transformers-format folder works too: '{version.folders[0]}' (config.json and "
                f"model.safetensors) in '{store.folder / version.key}'.") from missing
    return store.cached(f"depth_anything|{folder}", lambda: _from_folder(folder))


def _network_input(image: np.ndarray) -> np.ndarray:
    """Both sides at least 518 and multiples of 14 (aspect kept), bicubic, ImageNet-normalised, NCHW."""
    h, w = image.shape[:2]
    scale = max(_NET_SIDE / h, _NET_SIDE / w)

    def side(x: float) -> int:
        y = round(x / 14) * 14
        return y if y >= _NET_SIDE else math.ceil(x / 14) * 14

    resized = cv2.resize(image.astype(np.float32) / 255.0, (side(w * scale), side(h * scale)),
                         interpolation=cv2.INTER_CUBIC)
    return ((resized - _MEAN) / _STD).transpose(2, 0, 1)[None].astype(np.float32)


def depth_map(net: Any, image: np.ndarray) -> np.ndarray:
    """The grey 0..255 map of relative inverse depth, at the image's size."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        depth = net(pixel_values=torch.from_numpy(_network_input(image))).predicted_depth
        depth = F.interpolate(depth[:, None], image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    depth = (depth - depth.min()) / max(float(depth.max() - depth.min()), 1e-8) * 255.0
    return hwc3(depth.clamp(0, 255).numpy().astype(np.uint8))


def _runner(store: AnnotatorStore, version: Version) -> Callable[[np.ndarray, ProcessorCall], np.ndarray]:
    annotator = Annotator(version.key, version.filename, lambda state: _from_original(state, version.v2))

    def run(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
        return depth_map(_network(store, version, annotator), image)
    return run


def depth_anything_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    return [Preprocessor("depth_anything", _runner(store, V1), ("Depth",), annotator_files=(V1.filename,)),
            Preprocessor("depth_anything_v2", _runner(store, V2), ("Depth",), annotator_files=(V2.filename,))]
