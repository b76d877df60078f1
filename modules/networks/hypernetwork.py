"""Hypernetworks, `<hypernet:name:weight>`: A1111's legacy small MLPs on cross-attention keys/values.

File format (A1111's `.pt`, read through the restricted unpickler): a dict whose integer keys are
context widths (768, 1024, 320, ...), each holding two state dicts (for keys and values) of a
`linear` Sequential (`linear.0.weight`, `linear.0.bias`, `linear.2.weight`, ...), plus
`layer_structure`, `activation_func`, `is_layer_norm`, `activate_output`, `step`, `name`.
Applied as forward wrappers on the UNet's cross-attention `to_k` / `to_v` inputs:
`context + mlp(context) * weight`, through the job's patch set, so the model is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from modules.models.safe_unpickle import UnsafeCheckpointError, load_pickled_checkpoint
from modules.networks.catalog import NetworkCatalog, NetworkFile
from modules.networks.job import NetworkJob
from modules.text.extra_networks import ExtraNetworkParams

HYPERNETWORK_EXTENSIONS = (".pt",)
_ACTIVATIONS = {
    "relu": F.relu, "leakyrelu": F.leaky_relu, "elu": F.elu, "swish": F.silu, "silu": F.silu, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "gelu": F.gelu, "mish": F.mish, "softplus": F.softplus, "selu": F.selu,
    "celu": F.celu, "relu6": F.relu6, "hardswish": F.hardswish, "softsign": F.softsign,
}


@dataclass
class Mlp:
    """One key or value MLP: layers of ("linear", w, b) or ("norm", w, b), activations between."""

    layers: list[tuple[str, torch.Tensor, torch.Tensor | None]]
    activation: Any

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        linears = sum(1 for kind, _, _ in self.layers if kind == "linear")
        seen = 0
        for kind, w, b in self.layers:
            w_, b_ = w.to(h), None if b is None else b.to(h)
            if kind == "linear":
                h = F.linear(h, w_, b_)
                seen += 1
                if self.activation is not None and seen < linears:
                    h = self.activation(h)
            else:
                h = F.layer_norm(h, (w.shape[0],), w_, b_)
        return h


def _mlp(state: Mapping[str, torch.Tensor], activation: Any, activate_output: bool) -> Mlp:
    indices = sorted({int(k.split(".")[1]) for k in state if k.startswith("linear.") and k.endswith(".weight")})
    layers = []
    for i in indices:
        w, b = state[f"linear.{i}.weight"].float(), state.get(f"linear.{i}.bias")
        layers.append(("linear" if w.dim() == 2 else "norm", w, None if b is None else b.float()))
    if not layers:
        raise ValueError("a hypernetwork layer has no linear.N.weight tensors")
    mlp = Mlp(layers, activation)
    if activate_output and activation is not None:
        inner = mlp

        def with_output(x: torch.Tensor) -> torch.Tensor:
            return activation(inner(x))

        return _Wrapped(with_output)  # type: ignore[return-value]
    return mlp


@dataclass
class _Wrapped:
    fn: Any

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


@dataclass
class Hypernetwork:
    name: str
    layers: dict[int, tuple[Any, Any]]  # context width -> (key MLP, value MLP)
    step: int | None = None


def parse_hypernetwork(name: str, data: Mapping[Any, Any]) -> Hypernetwork:
    act_name = str(data.get("activation_func") or "linear").lower()
    if act_name not in ("linear", "none") and act_name not in _ACTIVATIONS:
        raise ValueError(f"hypernetwork {name!r} uses the activation {act_name!r}, which is not supported")
    activation = _ACTIVATIONS.get(act_name)
    activate_output = bool(data.get("activate_output", False))
    layers: dict[int, tuple[Any, Any]] = {}
    for key, value in data.items():
        if isinstance(key, int) and isinstance(value, (list, tuple)) and len(value) == 2:
            layers[key] = (_mlp(value[0], activation, activate_output), _mlp(value[1], activation, activate_output))
    if not layers:
        raise ValueError(f"hypernetwork {name!r} holds no layers (integer context widths with two state dicts)")
    step = data.get("step")
    return Hypernetwork(name, layers, int(step) if isinstance(step, int) else None)


def cross_attention_inputs(unet: Any) -> list[tuple[Any, Any]]:
    """(to_k, to_v) of every cross-attention block of a diffusers UNet."""
    pairs = []
    for name, module in unet.named_modules():
        if name.endswith("attn2") and hasattr(module, "to_k") and hasattr(module, "to_v"):
            pairs.append((module.to_k, module.to_v))
    return pairs


def _wrapper(mlp: Any, weight: float) -> Any:
    def wrap(context: torch.Tensor) -> torch.Tensor:
        return context + mlp(context) * weight

    return wrap


class HypernetworkHandler:
    """The `hypernet` extra-network type."""

    def __init__(self, catalog: NetworkCatalog) -> None:
        self.catalog = catalog
        self._loaded: dict[tuple[str, float], Hypernetwork] = {}

    def load(self, file: NetworkFile) -> Hypernetwork:
        key = (str(file.path), file.mtime)
        if key not in self._loaded:
            data = load_pickled_checkpoint(file.path, map_location="cpu")
            if not isinstance(data, Mapping):
                raise ValueError(f"'{file.path.name}' holds a {type(data).__name__}, not a hypernetwork dict")
            self._loaded = {key: parse_hypernetwork(file.name, data)}  # keep only the latest
        return self._loaded[key]

    def activate(self, params_list: list[ExtraNetworkParams], context: Any) -> None:
        job: NetworkJob = context
        for params in params_list:
            positional = params.positional
            name = positional[0] if positional else ""
            try:
                weight = float(positional[1]) if len(positional) > 1 else 1.0
            except ValueError:
                job.warnings.append(f"<hypernet:{name}:...> has the weight {positional[1]!r}, which is not a number")
                continue
            file = self.catalog.find(name)
            if file is None:
                job.warnings.append(f"Hypernetwork not found: {name} (looked in "
                                    f"{', '.join(map(str, self.catalog.roots))})")
                continue
            try:
                network = self.load(file)
            except (UnsafeCheckpointError, ValueError, OSError, RuntimeError) as exc:
                job.warnings.append(f"Hypernetwork '{name}' could not be read and was not applied: {exc}")
                continue
            self._apply(network, weight, job)

    def _apply(self, network: Hypernetwork, weight: float, job: NetworkJob) -> None:
        applied = 0
        for to_k, to_v in cross_attention_inputs(job.model.unet):
            pair = network.layers.get(int(to_k.in_features))
            if pair is None:
                continue
            applied += 1
            if weight != 0:
                job.patches.wrap_input(to_k, _wrapper(pair[0], weight))
                job.patches.wrap_input(to_v, _wrapper(pair[1], weight))
        if applied == 0:
            widths = ", ".join(map(str, sorted(network.layers)))
            job.warnings.append(f"Hypernetwork '{network.name}' (context widths {widths}) does not fit the loaded "
                                "model; it was not applied")

    def deactivate(self, context: Any) -> None:
        """Nothing to undo: the job's patch scope removes the wrappers."""
