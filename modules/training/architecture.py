"""The demo model's architecture: an SD1.x layout shrunk to train in minutes on a CPU.

Why these sizes: the world is 64×64 flat shapes, so the VAE keeps SD's /8 downsampling and 4 latent
channels (8×8 latents) with narrow channels (32–64); the UNet has two levels, 32/64 channels, two
resnets per level, with cross-attention only at the low-resolution level and in the middle, which
keeps a 512×512 request affordable on a CPU (full-resolution self-attention is what makes SD slow
there). 64/128 channels cost 3× more per training step on the shared 2-core CPU the model was
made on, for a world that does not need them. The text encoder is a real-vocabulary CLIP (49,408
tokens, 77 positions, quick-GELU, 64-wide heads) so the app's tokenizer, chunking and loader treat
it exactly like CLIP-L, just 64 wide and 2 layers deep.
Every choice is expressible in the original LDM yaml, which the loader reads from the sidecar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from modules.text.clip_tokenizer import END_ID, MODEL_MAX_LENGTH, START_ID, VOCAB_SIZE


@dataclass(frozen=True)
class Architecture:
    """Sizes of the three components (defaults: the shipped demo model)."""

    vae_channels: tuple[int, ...] = (32, 32, 64, 64)  # 4 levels → /8
    vae_layers: int = 1
    latent_channels: int = 4
    unet_channels: tuple[int, ...] = (32, 64)
    unet_attention: tuple[bool, ...] = (False, True)  # cross-attention per level
    unet_layers: int = 2
    unet_heads: int = 2
    text_width: int = 64
    text_layers: int = 2
    text_intermediate: int = 256

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


DEMO = Architecture()
# Test-sized: builds in well under a second, same layout rules (32 norm groups, /8 VAE).
TINY = replace(DEMO, vae_channels=(32, 32, 32, 32), unet_channels=(32, 64), unet_layers=1, unet_heads=1,
               text_width=32, text_intermediate=64, text_layers=1)


def vae_config(arch: Architecture) -> dict[str, Any]:
    """diffusers AutoencoderKL config."""
    n = len(arch.vae_channels)
    return {
        "in_channels": 3, "out_channels": 3, "latent_channels": arch.latent_channels,
        "down_block_types": ["DownEncoderBlock2D"] * n, "up_block_types": ["UpDecoderBlock2D"] * n,
        "block_out_channels": list(arch.vae_channels), "layers_per_block": arch.vae_layers,
        "norm_num_groups": 32, "sample_size": 64,
    }


def unet_config(arch: Architecture) -> dict[str, Any]:
    """diffusers UNet2DConditionModel config (SD1 conventions: eps, no extra embeddings)."""
    if len(arch.unet_attention) != len(arch.unet_channels):
        raise ValueError("unet_attention needs one flag per entry of unet_channels.")
    return {
        "sample_size": 8, "in_channels": arch.latent_channels, "out_channels": arch.latent_channels,
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in arch.unet_attention],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(arch.unet_attention)],
        "block_out_channels": list(arch.unet_channels), "layers_per_block": arch.unet_layers,
        "cross_attention_dim": arch.text_width, "attention_head_dim": arch.unet_heads,
        "norm_num_groups": 32,
    }


def text_config(arch: Architecture) -> Any:
    """transformers CLIPTextConfig the loader will rebuild identically from the weights' shapes."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=arch.text_width, intermediate_size=arch.text_intermediate,
        num_hidden_layers=arch.text_layers, num_attention_heads=max(1, arch.text_width // 64),
        max_position_embeddings=MODEL_MAX_LENGTH, projection_dim=arch.text_width, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, bos_token_id=START_ID, eos_token_id=END_ID, pad_token_id=END_ID,
    )


def build_vae(arch: Architecture) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(**vae_config(arch))


def build_unet(arch: Architecture) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**unet_config(arch))


def build_text_encoder(arch: Architecture) -> Any:
    from transformers import CLIPTextModel

    return CLIPTextModel(text_config(arch))


def parameter_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
