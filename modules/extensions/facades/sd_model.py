"""`p.sd_model` / `shared.sd_model`: what A1111 scripts read about the loaded model, read-only.

Scripts commonly check the architecture (`is_sdxl`, `is_sd1`, `is_sd2`) and name the checkpoint
(`sd_checkpoint_info.title`, `.model_name`, `.filename`, `.sha256`, `sd_model_hash`). The weights
themselves are not exposed: any other attribute raises a message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.extensions.facades.importer import missing


@dataclass(frozen=True)
class CheckpointInfoView:
    """A1111's CheckpointInfo, as far as scripts read it."""

    filename: str
    title: str
    name: str
    name_for_extra: str
    model_name: str
    sha256: str | None
    shorthash: str | None

    @property
    def hash(self) -> str | None:
        return self.shorthash

    @property
    def ids(self) -> list[str]:
        return [i for i in (self.model_name, self.name, self.title, self.shorthash) if i]

    metadata: dict[str, Any] | None = None


class SdModel:
    """The loaded checkpoint as scripts see it (no weights)."""

    def __init__(self, model: Any, model_name: str | None = None, model_hash: str | None = None) -> None:
        self._model = model
        path = Path(model.source_path) if getattr(model, "source_path", None) else None
        stem = model_name or (path.stem if path is not None else model.title or "model")
        title = model.title or stem
        self.sd_checkpoint_info = CheckpointInfoView(
            filename=str(path) if path is not None else "", title=title,
            name=title.split(" [")[0], name_for_extra=stem, model_name=stem,
            sha256=None, shorthash=model_hash)
        self.sd_model_checkpoint = self.sd_checkpoint_info.filename
        self.sd_model_hash = model_hash
        family = model.family
        self.is_sdxl = family.is_sdxl
        self.is_sd2 = family.is_sd2
        self.is_sd1 = not (family.is_sdxl or family.is_sd2)
        self.is_sd3 = False
        self.is_ssd = False
        self.is_sdxl_inpaint = family.is_sdxl and family.is_inpainting
        self.parameterization = "v" if model.prediction_type == "v_prediction" else "eps"
        self.latent_channels = model.latent_channels
        self.cond_stage_key = "txt" if self.is_sdxl else "crossattn"

    @property
    def dtype(self) -> Any:
        return next(self._model.unet.parameters()).dtype

    @property
    def device(self) -> Any:
        return next(self._model.unet.parameters()).device

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_model":
            raise AttributeError(name)
        raise missing("sd_model", name)
