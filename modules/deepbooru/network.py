"""The DeepDanbooru `resnet_custom_v3` network, as the torch port's state dict names it.

Why a table instead of a long forward: the network is a plain bottleneck ResNet (KichangKim's
Keras `resnet_custom_v3`: a 7x7 stem with max pool, six stages of bottleneck blocks with
256/512/1024/1024/2048/4096 output channels repeated 2/7/19/19/2/2 times after one downsampling
block each, then a 1x1 convolution to one logit per tag, a global average and a sigmoid; batch norm
folded into the convolutions' biases). The torch port users download,
`model-resnet_custom_v3.pt`, keeps the exporter's flat names `n_Conv_0` ... `n_Conv_178` in the
order the exporter visited the layers, so `layer_plan` numbers the same layers the same way and
`load_state_dict(strict=True)` takes the real file unchanged. One quirk of that order: in the
fourth stage the exporter listed the downsampling block's shortcut after its main path.

Padding follows TensorFlow's "same" (the extra pixel goes after, not before), computed from the
input size, so the results match the original model at its 512x512 input and stay defined at any
other size. `width` (the stem's channel count, 64 in the real file) scales every layer: tests
write a narrow network with the real names and depth; the loader reads the width from the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

REAL_WIDTH = 64
REAL_TAG_COUNT = 9176
INPUT_SIZE = 512
# (output channels as a multiple of the stem width, identity blocks after the downsampling block)
STAGES: tuple[tuple[int, int], ...] = ((4, 2), (8, 7), (16, 19), (16, 19), (32, 2), (64, 2))
SHORTCUT_LISTED_LAST = frozenset({3})  # stage index whose shortcut the exporter numbered after the main path


@dataclass(frozen=True)
class ConvSpec:
    """One convolution: its number in `n_Conv_<index>` and its shape."""

    index: int
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    bias: bool = True

    @property
    def name(self) -> str:
        return f"n_Conv_{self.index}"


@dataclass(frozen=True)
class Block:
    """A bottleneck block: 1x1 -> 3x3 -> 1x1 on the main path, plus a projection when it downsamples."""

    main: tuple[ConvSpec, ConvSpec, ConvSpec]
    shortcut: ConvSpec | None


@dataclass(frozen=True)
class Plan:
    """Every layer of the network, in the file's numbering."""

    stem: ConvSpec
    blocks: tuple[Block, ...]
    head: ConvSpec

    def convs(self) -> list[ConvSpec]:
        inner = [c for b in self.blocks for c in (*b.main, *((b.shortcut,) if b.shortcut else ()))]
        return sorted([self.stem, *inner, self.head], key=lambda c: c.index)


def _downsampling_block(index: int, cin: int, cout: int, stride: int, shortcut_last: bool) -> Block:
    mid = cout // 4
    first = index + (0 if shortcut_last else 1)
    main = (ConvSpec(first, cin, mid, 1), ConvSpec(first + 1, mid, mid, 3, stride),
            ConvSpec(first + 2, mid, cout, 1))
    shortcut = ConvSpec(index + 3 if shortcut_last else index, cin, cout, 1, stride)
    return Block(main, shortcut)


def _identity_block(index: int, channels: int) -> Block:
    mid = channels // 4
    return Block((ConvSpec(index, channels, mid, 1), ConvSpec(index + 1, mid, mid, 3),
                  ConvSpec(index + 2, mid, channels, 1)), None)


def layer_plan(width: int = REAL_WIDTH, tag_count: int = REAL_TAG_COUNT) -> Plan:
    """The layers of a network whose stem has `width` channels and which scores `tag_count` tags."""
    stem = ConvSpec(0, 3, width, 7, 2)
    blocks: list[Block] = []
    index, channels = 1, width
    for stage, (multiple, repeats) in enumerate(STAGES):
        cout = multiple * width
        blocks.append(_downsampling_block(index, channels, cout, 1 if stage == 0 else 2,
                                          stage in SHORTCUT_LISTED_LAST))
        index += 4
        for _ in range(repeats):
            blocks.append(_identity_block(index, cout))
            index += 3
        channels = cout
    head = ConvSpec(index, channels, tag_count, 1, bias=False)
    return Plan(stem, tuple(blocks), head)


def same_padding(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's "same" padding for a square kernel: the odd pixel goes on the right/bottom."""
    pads: list[int] = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad wants the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class DeepDanbooruNet(nn.Module):
    """resnet_custom_v3; `forward` takes RGB in [0, 1] (N, 3, H, W) and returns per-tag probabilities."""

    def __init__(self, width: int = REAL_WIDTH, tag_count: int = REAL_TAG_COUNT) -> None:
        super().__init__()
        self.tags: tuple[str, ...] = ()  # names of the outputs, from the model file (not weights)
        self.plan = layer_plan(width, tag_count)
        for spec in self.plan.convs():
            self.add_module(spec.name, nn.Conv2d(spec.cin, spec.cout, spec.kernel, spec.stride, bias=spec.bias))

    def _conv(self, spec: ConvSpec, x: torch.Tensor) -> torch.Tensor:
        layer: nn.Module = getattr(self, spec.name)
        return layer(same_padding(x, spec.kernel, spec.stride))

    def _block(self, block: Block, x: torch.Tensor) -> torch.Tensor:
        y = x
        for i, spec in enumerate(block.main):
            y = self._conv(spec, y)
            if i < 2:
                y = F.relu(y)
        skip = self._conv(block.shortcut, x) if block.shortcut is not None else x
        return F.relu(y + skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self._conv(self.plan.stem, x))
        x = F.max_pool2d(same_padding(x, 3, 2, float("-inf")), 3, 2)
        for block in self.plan.blocks:
            x = self._block(block, x)
        logits = self._conv(self.plan.head, x).mean(dim=(2, 3))
        return torch.sigmoid(logits)
