"""Trainable LoRA adapters on a frozen model, saved in kohya's file format.

Why kohya's format: it is what A1111 users download and what our own LoRA loader reads
(modules/networks), so a LoRA trained here is a normal file in `models/Lora/` that works through
exactly the code path of every other LoRA. Each adapted layer gets `down` (rank x in) and `up`
(out x rank, zero-initialised so training starts from the base model), added through a forward
hook scaled by alpha / rank; the base weights are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

UNET_LAYERS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k",
               "attn2.to_v", "attn2.to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2")
TEXT_LAYERS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1",
               "mlp.fc2")


@dataclass
class Adapter:
    key: str  # kohya name, e.g. lora_unet_down_blocks_1_attentions_0_proj_in
    module: Any
    down: torch.nn.Parameter
    up: torch.nn.Parameter
    scale: float


@dataclass
class AdapterSet:
    adapters: list[Adapter] = field(default_factory=list)
    handles: list[Any] = field(default_factory=list)
    rank: int = 4
    alpha: float = 4.0

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for a in self.adapters for p in (a.down, a.up)]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """kohya keys: `<key>.lora_down.weight`, `<key>.lora_up.weight`, `<key>.alpha`."""
        out: dict[str, torch.Tensor] = {}
        for a in self.adapters:
            conv = isinstance(a.module, torch.nn.Conv2d)
            down, up = a.down.detach().float(), a.up.detach().float()
            out[f"{a.key}.lora_down.weight"] = (down[:, :, None, None] if conv else down).contiguous()
            out[f"{a.key}.lora_up.weight"] = (up[:, :, None, None] if conv else up).contiguous()
            out[f"{a.key}.alpha"] = torch.tensor(self.alpha)
        return out

    @torch.no_grad()
    def load(self, path: Path) -> None:
        """Start from a file this class saved (same layers and rank)."""
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        for a in self.adapters:
            a.down.copy_(tensors[f"{a.key}.lora_down.weight"].flatten(1))
            a.up.copy_(tensors[f"{a.key}.lora_up.weight"].flatten(1))

    def save(self, path: Path, metadata: dict[str, str]) -> Path:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), str(path), metadata=metadata)
        return path


def _hook(adapter: Adapter) -> Any:
    def forward(_module: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        if isinstance(adapter.module, torch.nn.Conv2d):  # 1x1 projections of SD1's transformer blocks
            h = torch.einsum("bchw,rc->brhw", x, adapter.down)
            return output + torch.einsum("brhw,or->bohw", h, adapter.up) * adapter.scale
        return output + (x @ adapter.down.T) @ adapter.up.T * adapter.scale

    return forward


def attach(modules: dict[str, Any], rank: int = 4, alpha: float = 4.0, seed: int = 0) -> AdapterSet:
    """Adapters on the attention/MLP layers of `{"unet": unet, "te": text_encoder}`."""
    generator = torch.Generator().manual_seed(seed)
    result = AdapterSet(rank=rank, alpha=alpha)
    for component, root in modules.items():
        wanted = UNET_LAYERS if component == "unet" else TEXT_LAYERS
        for name, module in root.named_modules():
            if not name.endswith(wanted) or not isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                continue
            out_f, in_f = module.weight.shape[:2]
            down = torch.nn.Parameter(torch.randn(rank, in_f, generator=generator) / in_f**0.5)
            up = torch.nn.Parameter(torch.zeros(out_f, rank))
            adapter = Adapter(f"lora_{component}_{name.replace('.', '_')}", module, down, up, alpha / rank)
            result.adapters.append(adapter)
            result.handles.append(module.register_forward_hook(_hook(adapter)))
    return result
