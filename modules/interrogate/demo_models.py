"""Architectures of the small interrogation models: the shipped demo ones and the tests' ones.

Both are real formats the app loads like any download: an open_clip model (`config.json` + weights
in `models/CLIP/<arch>/`) and a transformers BLIP captioner folder (BlipForConditionalGeneration +
BlipProcessor with a word-level BERT vocabulary). Only the sizes are small.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

from modules.training.world import COLOURS, SHAPES

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")
WORLD_WORDS = ("a", "on", "background", *COLOURS, *SHAPES)


def clip_config(width: int = 64, image_size: int = 64, patch_size: int = 8, layers: int = 2,
                embed_dim: int = 64, context_length: int = 24) -> dict[str, Any]:
    """An open_clip model config (ViT image tower, text transformer with the real CLIP vocabulary)."""
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "layers": layers, "width": width, "patch_size": patch_size,
                       "head_width": 32},
        "text_cfg": {"context_length": context_length, "vocab_size": 49408, "width": width, "heads": width // 32,
                     "layers": layers},
    }


def build_clip(config: dict[str, Any], seed: int = 0) -> torch.nn.Module:
    from open_clip.model import CLIP

    torch.manual_seed(seed)
    return CLIP(**config)


def save_clip(model: torch.nn.Module, config: dict[str, Any], folder: Path, tag: str,
              dtype: torch.dtype = torch.float16) -> Path:
    """Write `<folder>/config.json` and `<folder>/<tag>.safetensors` as the app reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    path = folder / f"{tag}.safetensors"
    save_file(state, str(path))
    return path


def blip_processor(folder: Path, words: Sequence[str] = WORLD_WORDS, image_size: int = 64) -> BlipProcessor:
    """A BlipProcessor with a word-level vocabulary (`[DEC]` starts a caption, as in BLIP)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL_TOKENS, *words]) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocab), do_lower_case=True, additional_special_tokens=["[DEC]"])
    images = BlipImageProcessor(size={"height": image_size, "width": image_size})
    return BlipProcessor(image_processor=images, tokenizer=tokenizer)


def blip_config(vocab_size: int, image_size: int = 64, hidden: int = 64, layers: int = 2) -> BlipConfig:
    vision = {"hidden_size": hidden, "intermediate_size": hidden * 2, "num_hidden_layers": layers,
              "num_attention_heads": 2, "image_size": image_size, "patch_size": 8, "projection_dim": hidden}
    text = {"vocab_size": vocab_size, "hidden_size": hidden, "intermediate_size": hidden * 2,
            "num_hidden_layers": layers, "num_attention_heads": 2, "encoder_hidden_size": hidden,
            "max_position_embeddings": 32, "pad_token_id": 0, "bos_token_id": SPECIAL_TOKENS.index("[DEC]"),
            "sep_token_id": SPECIAL_TOKENS.index("[SEP]"), "eos_token_id": SPECIAL_TOKENS.index("[SEP]")}
    return BlipConfig(vision_config=vision, text_config=text, projection_dim=hidden)


def build_blip(processor: BlipProcessor, image_size: int = 64, seed: int = 0) -> BlipForConditionalGeneration:
    torch.manual_seed(seed)
    return BlipForConditionalGeneration(blip_config(len(processor.tokenizer), image_size))


def save_blip(model: BlipForConditionalGeneration, processor: BlipProcessor, folder: Path) -> Path:
    """A transformers folder (config.json, model.safetensors, processor files)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
