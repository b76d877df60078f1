"""DeepBooru tagging for the app: the model file as a handle in the interrogation models' placement.

The model goes through the same placement as the CLIP and caption models (the model cache in the
app), so it loads on first use, sits on the compute device only during a call, leaves it again
under --medvram/--lowvram, and "Unload" drops it with the others. The settings are read at every
call, so a change in Settings applies to the next tagging without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modules.deepbooru.model_file import find_model_file, load_deepbooru, missing_message
from modules.deepbooru.tags import TagOptions, format_tags, picture_tensor


@dataclass
class DeepBooruTagger:
    """Tags pictures with the DeepDanbooru model in `folder` (models/torch_deepdanbooru)."""

    folder: Path
    placement: Any  # modules.interrogate.placement.ModelPlacement or CachePlacement
    options: Callable[[], TagOptions] = TagOptions

    def installed(self) -> bool:
        try:
            find_model_file(self.folder)
        except LookupError:
            return False
        return True

    def missing_message(self) -> str:
        return missing_message(self.folder)

    def _key(self) -> str:
        path = find_model_file(self.folder)
        return self.placement.register(f"interrogate/deepbooru/{path.name}", lambda: load_deepbooru(path),
                                       kind="interrogator")

    def scores(self, image: Image.Image) -> dict[str, float]:
        """Every tag's probability for `image` (the network's raw output, named)."""
        key = self._key()
        with self.placement.use([key]) as parts, torch.inference_mode():
            net = parts[key]
            param = next(net.parameters())
            probs = net(picture_tensor(image).to(param.device, param.dtype))[0].float().cpu()
        return dict(zip(net.tags, probs.tolist(), strict=True))

    def tag(self, image: Image.Image, options: TagOptions | None = None) -> str:
        """The prompt text for `image`: A1111's DeepBooru output with the current settings."""
        probs = self.scores(image)
        return format_tags(list(probs), list(probs.values()), options or self.options())
