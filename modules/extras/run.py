"""One Extras job over one or more pictures: upscale each, optionally save, report progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from modules.extras.params import ExtrasParams
from modules.extras.process import ExtrasOutput, run_extras_steps
from modules.extras.saving import save_extras_image
from modules.upscalers.catalog import UpscalerCatalog


@dataclass(frozen=True)
class ExtrasInput:
    image: Image.Image
    name: str | None = None  # source file stem (batch from directory keeps it)


@dataclass
class ExtrasJobResult:
    outputs: list[ExtrasOutput]
    saved: list[str]

    @property
    def html_info(self) -> str:
        return self.outputs[0].infotext if self.outputs else ""


def run_extras(inputs: Sequence[ExtrasInput], params: ExtrasParams, catalog: UpscalerCatalog,
               settings: Mapping[str, Any], control: Any = None, save_to: Path | None = None,
               faces: Any = None) -> ExtrasJobResult:
    """Upscale every input in order; `control` (a JobControl) reports progress and stops on Interrupt."""
    params.validate()
    outputs: list[ExtrasOutput] = []
    saved: list[str] = []
    for i, item in enumerate(inputs):
        if control is not None:
            control.check()
            control.set_job(i, len(inputs), 1)

        def on_tile(done: int, total: int) -> None:
            if control is not None:
                control.check()

        out = run_extras_steps(item.image, params, catalog, settings, on_tile, faces)
        outputs.append(out)
        if save_to is not None:
            generation = item.image.info.get("parameters") if isinstance(item.image.info, dict) else None
            saved.append(save_extras_image(out.image, out.infotext, save_to, settings,
                                           generation_params=generation, basename=item.name))
        if control is not None:
            control.step(1)
    return ExtrasJobResult(outputs, saved)
