"""The loaded model as the engine sees it: diffusers components plus what the checkpoint said.

This is the contract between the loader (modules/models/loader.py), the text conditioning
(modules/text/) and the engine. It holds no global state; the model cache owns instances.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ModelFamily(str, enum.Enum):
    """Architecture families detected from state-dict keys and shapes."""

    SD1 = "sd1"
    SD1_INPAINT = "sd1-inpaint"
    SD2 = "sd2"  # epsilon, 512
    SD2_V = "sd2-v"  # v-prediction, 768
    SD2_INPAINT = "sd2-inpaint"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl-refiner"
    SDXL_INPAINT = "sdxl-inpaint"

    @property
    def is_sdxl(self) -> bool:
        return self in (ModelFamily.SDXL, ModelFamily.SDXL_REFINER, ModelFamily.SDXL_INPAINT)

    @property
    def is_sd2(self) -> bool:
        return self in (ModelFamily.SD2, ModelFamily.SD2_V, ModelFamily.SD2_INPAINT)

    @property
    def is_inpainting(self) -> bool:
        return self in (ModelFamily.SD1_INPAINT, ModelFamily.SD2_INPAINT, ModelFamily.SDXL_INPAINT)


class TextEncoderKind(str, enum.Enum):
    """Which text encoder a bundle is; decides padding and clip-skip rules."""

    CLIP_L = "clip-l"  # SD1 and SDXL's first encoder; pads with <|endoftext|>
    OPEN_CLIP_H = "open-clip-h"  # SD2; pads with "!" (id 0) after the first EOS
    OPEN_CLIP_G = "open-clip-g"  # SDXL's second encoder; pads with "!"; has a projection


@dataclass
class TextEncoderBundle:
    """One tokenizer + text transformer pair.

    `model` is a transformers `CLIPTextModel` (CLIP-L, OpenCLIP-H) or
    `CLIPTextModelWithProjection` (OpenCLIP-G in SDXL). `pad_token_id` is the id used to pad
    chunks after the end token (49407 for CLIP-L, 0 for the OpenCLIP encoders).
    `penultimate_default` is True for encoders whose conditioning is taken from the
    penultimate layer by the architecture itself (SD2, both SDXL encoders).
    """

    kind: TextEncoderKind
    tokenizer: Any
    model: Any
    pad_token_id: int
    penultimate_default: bool = False


@dataclass
class DerivedValues:
    """Values computed from a loaded model's parts, each remembering the part it came from.

    A VAE swap or reload replaces the part, and a value whose source is no longer the current part
    is stale: `preview_matrix_for(vae)` then returns None and the caller computes it again.
    """

    preview_matrix: Any = None
    preview_matrix_source: int | None = None  # id() of the VAE it was fitted on
    discrete_schedule: Any = None  # from alphas_cumprod, which never changes for a loaded model

    def preview_matrix_for(self, vae: Any) -> Any:
        return self.preview_matrix if self.preview_matrix_source == id(vae) else None

    def set_preview_matrix(self, vae: Any, matrix: Any) -> None:
        self.preview_matrix, self.preview_matrix_source = matrix, id(vae)


@dataclass
class LoadedModel:
    """A checkpoint loaded into diffusers modules, plus facts the engine needs."""

    family: ModelFamily
    unet: Any  # diffusers UNet2DConditionModel
    vae: Any  # diffusers AutoencoderKL
    text_encoders: list[TextEncoderBundle]
    prediction_type: str  # "epsilon" or "v_prediction"
    alphas_cumprod: Any  # torch.Tensor, float32, length = training timesteps (1000)
    vae_scaling_factor: float
    source_path: Path | None = None
    title: str = ""
    config_path: Path | None = None  # the yaml used (shipped or sidecar)
    is_demo: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # facts from loading (sources, markers)
    derived: DerivedValues = field(default_factory=DerivedValues)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def unet_in_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def vae_downscale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)
