"""One layer's LoRA/LyCORIS tensors -> the change to that layer's weight (and bias).

Formats, told apart by which tensors a layer has:
- LoRA / LoCon: `lora_up @ lora_down` (convolutions flattened; an optional `lora_mid` Tucker core),
  scaled by alpha / rank;
- LoHa: `(w1_a @ w1_b) * (w2_a @ w2_b)` (Hadamard product; optional Tucker cores t1/t2);
- LoKr: `kron(w1, w2)` where either factor may itself be `a @ b` (then alpha / rank applies);
- (IA)^3: the weight scaled per output row (or input column with `on_input`): delta = W * w;
- full / diff: the difference itself (`diff`, `diff_b`).
The delta is computed in float32 and reshaped to the layer's weight shape, so a LoRA trained on
a linear projection also fits a 1x1 convolution of the same size (SD1 vs SD2 `proj_in`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


class LoraFormatError(ValueError):
    """A layer's tensors do not form any known format, or do not fit the layer."""


@dataclass
class LayerDelta:
    """What to add to a layer, at multiplier 1."""

    weight: torch.Tensor | None
    bias: torch.Tensor | None = None


def format_of(params: Mapping[str, torch.Tensor]) -> str:
    """The format name of one layer's tensors (for messages and the card's description)."""
    if "lora_up" in params and "lora_down" in params:
        return "LoRA"
    if "hada_w1_a" in params:
        return "LoHa"
    if any(k.startswith("lokr_") for k in params):
        return "LoKr"
    if "diff" in params or "diff_b" in params:
        return "full"
    if "weight" in params:
        return "IA3"
    raise LoraFormatError(f"unknown LoRA layer format with tensors {sorted(params)}")


def _scale(params: Mapping[str, torch.Tensor], rank: int) -> float:
    alpha = params.get("alpha")
    return float(alpha) / rank if alpha is not None and rank else 1.0


def _lora(params: Mapping[str, torch.Tensor], shape: torch.Size) -> torch.Tensor:
    up, down = params["lora_up"].float().flatten(1), params["lora_down"]
    rank = down.shape[0]
    mid = params.get("lora_mid")
    if mid is not None:  # LoCon with a Tucker core (rank, rank, kh, kw)
        delta = torch.einsum("nmkl,in,mj->ijkl", mid.float(), up, down.float().flatten(1))
    elif down.dim() == 4 and down.shape[2:] != (1, 1):  # LoCon on a k x k convolution
        delta = (up @ down.float().flatten(1)).reshape(up.shape[0], *down.shape[1:])
    else:
        delta = up @ down.float().flatten(1)
    return delta * _scale(params, rank)


def _hada_factor(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
    if t is None:
        return a.float() @ b.float().flatten(1)
    return torch.einsum("ijkl,jr,ip->prkl", t.float(), b.float().flatten(1), a.float())


def _loha(params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    w1 = _hada_factor(params["hada_w1_a"], params["hada_w1_b"], params.get("hada_t1"))
    w2 = _hada_factor(params["hada_w2_a"], params["hada_w2_b"], params.get("hada_t2"))
    rank = params["hada_w1_b"].shape[0]
    return w1 * w2 * _scale(params, rank)


def _lokr_factor(params: Mapping[str, torch.Tensor], which: str) -> tuple[torch.Tensor, int | None]:
    whole = params.get(f"lokr_{which}")
    if whole is not None:
        return whole.float(), None
    a, b = params[f"lokr_{which}_a"].float(), params[f"lokr_{which}_b"].float()
    t = params.get(f"lokr_t{which[-1]}") if which == "w2" else None
    if t is not None:
        return torch.einsum("ijkl,jr,ip->prkl", t.float(), b.flatten(1), a), b.shape[0]
    return a @ b.flatten(1), b.shape[0]


def _lokr(params: Mapping[str, torch.Tensor], shape: torch.Size) -> torch.Tensor:
    w1, rank1 = _lokr_factor(params, "w1")
    w2, rank2 = _lokr_factor(params, "w2")
    if len(shape) == 4 and w2.dim() == 2:  # a factored w2 of a convolution comes out flattened
        w2 = w2.reshape(w2.shape[0], shape[1] // w1.shape[1], *shape[2:])
    if w1.dim() < w2.dim():
        w1 = w1.reshape(*w1.shape, *([1] * (w2.dim() - w1.dim())))
    rank = rank1 or rank2
    return torch.kron(w1, w2) * (_scale(params, rank) if rank else 1.0)


def linear_factors(params: Mapping[str, torch.Tensor],
                   weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(down, up * alpha/rank) of a plain LoRA on a linear layer, or None for any other case.

    Why: a forward hook can then add `(x @ down.T) @ up.T`, rank-sized matmuls, instead of a full
    delta matrix of the layer's size (less memory and less compute in "hooks" mode).
    """
    if format_of(params) != "LoRA" or "lora_mid" in params or weight.dim() != 2:
        return None
    down, up = params["lora_down"].float().flatten(1), params["lora_up"].float().flatten(1)
    if down.shape[1] != weight.shape[1] or up.shape[0] != weight.shape[0]:
        raise LoraFormatError(f"LoRA factors {tuple(up.shape)} x {tuple(down.shape)} do not fit a layer of "
                              f"shape {tuple(weight.shape)}")
    return down, up * _scale(params, down.shape[0])


def layer_delta(params: Mapping[str, torch.Tensor], weight: torch.Tensor) -> LayerDelta:
    """The change to a layer with this `weight`, at multiplier 1 (float32, weight's shape)."""
    kind = format_of(params)
    shape = weight.shape
    bias = None
    if kind == "LoRA":
        delta = _lora(params, shape)
    elif kind == "LoHa":
        delta = _loha(params)
    elif kind == "LoKr":
        delta = _lokr(params, shape)
    elif kind == "IA3":
        w = params["weight"].float().flatten()
        on_input = "on_input" in params and bool(params["on_input"].flatten()[0])
        view = (1, -1) if on_input else (-1, 1)
        delta = weight.float() * w.reshape(*view, *([1] * (weight.dim() - 2)))
    else:
        delta = params["diff"].float() if "diff" in params else None
        bias = params["diff_b"].float() if "diff_b" in params else None
    if delta is not None:
        if delta.numel() != weight.numel():
            raise LoraFormatError(f"{kind} change of shape {tuple(delta.shape)} does not fit a layer of "
                                  f"shape {tuple(shape)}")
        delta = delta.reshape(shape)
    return LayerDelta(delta, bias)
