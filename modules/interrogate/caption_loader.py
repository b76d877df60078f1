"""Build a caption model from a local transformers folder (`models/BLIP/<name>/`).

Supported `model_type`s: `blip` (BlipForConditionalGeneration + BlipProcessor, the tested path),
`blip-2` (Blip2ForConditionalGeneration) and `git` (GIT, AutoModelForCausalLM). Everything loads
with `local_files_only=True`, so a folder missing a file fails with a message instead of reaching
a model hub.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoProcessor,
    Blip2ForConditionalGeneration,
    BlipForConditionalGeneration,
)

from modules.interrogate.folders import CaptionModelFolder

MODEL_CLASSES: dict[str, Any] = {
    "blip": BlipForConditionalGeneration,
    "blip-2": Blip2ForConditionalGeneration,
    "git": AutoModelForCausalLM,
}


class CaptionLoadError(RuntimeError):
    """A caption model folder exists but cannot be used; the message says why."""


class CaptionBundle(torch.nn.Module):
    """A caption model with its processor, movable as one module."""

    def __init__(self, name: str, model: torch.nn.Module, processor: Any, model_type: str) -> None:
        super().__init__()
        self.name = name
        self.model = model
        self.processor = processor
        self.model_type = model_type

    @property
    def package_name(self) -> str:
        """A name clip-interrogator reads to pick its input handling (it checks for a `git-` prefix)."""
        return f"{'git' if self.model_type == 'git' else 'blip'}-{self.name}"


def load_caption(folder: CaptionModelFolder) -> CaptionBundle:
    """The caption model in `folder`, on the CPU in float32, in eval mode."""
    config = json.loads((folder.path / "config.json").read_text(encoding="utf-8"))
    model_type = config.get("model_type", "")
    if model_type not in MODEL_CLASSES:
        raise CaptionLoadError(
            f"{folder.path} holds a '{model_type}' model; caption models supported here are "
            f"{', '.join(MODEL_CLASSES)} (transformers folders).")
    try:
        model = MODEL_CLASSES[model_type].from_pretrained(folder.path, local_files_only=True, dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(folder.path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise CaptionLoadError(f"Cannot load the caption model in {folder.path}: {err}") from err
    model.eval().requires_grad_(False)
    return CaptionBundle(folder.name, model, processor, model_type)
