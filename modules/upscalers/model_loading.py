"""Load an upscaler model file with spandrel, never through a stock unpickler.

`.safetensors` is read by safetensors; every pickle (`.pth`, `.pt`, `.ckpt`, `.bin`) goes through
`modules/models/safe_unpickle.py`. spandrel only sees the resulting tensors and picks the
architecture from their names and shapes, so any model it knows works from any folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class UpscalerLoadError(Exception):
    """A model file that cannot be used; the message says why and what to do."""


def read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a model file, unwrapped from the usual containers (`params_ema`, `state_dict`...)."""
    from spandrel import canonicalize_state_dict

    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        from modules.models.safe_unpickle import load_pickled_checkpoint

        state = load_pickled_checkpoint(path)
    if not isinstance(state, dict):
        raise UpscalerLoadError(f"{path.name} holds a {type(state).__name__}, not a dictionary of weights")
    return canonicalize_state_dict(state)


def load_descriptor(path: Path) -> Any:
    """The spandrel ImageModelDescriptor for a file, in eval mode on the CPU.

    Every failure becomes an UpscalerLoadError naming the file and the reason, so a broken file is
    listed as broken instead of breaking the list.
    """
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    from modules.models.safe_unpickle import UnsafeCheckpointError

    try:
        state = read_state_dict(path)
        descriptor = ModelLoader(device=torch.device("cpu")).load_from_state_dict(state)
    except UnsupportedModelError:
        raise UpscalerLoadError(
            f"{path.name}: spandrel does not recognise this model's architecture; "
            "use an ESRGAN, Real-ESRGAN, DAT, SwinIR or HAT model (or another spandrel architecture)") from None
    except UnsafeCheckpointError as err:
        raise UpscalerLoadError(str(err)) from None
    except UpscalerLoadError:
        raise
    except Exception as err:  # corrupt files raise anything: safetensors, zip, pickle, shape errors
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UpscalerLoadError(f"{path.name} could not be read ({reason}); the file may be damaged or "
                                "incomplete: download it again") from None
    if not isinstance(descriptor, ImageModelDescriptor):
        raise UpscalerLoadError(f"{path.name} is a {descriptor.architecture.name} model, which is not an "
                                "image-to-image upscaler")
    if str(descriptor.purpose) not in ("SR", "Restoration"):
        raise UpscalerLoadError(f"{path.name} is a {descriptor.architecture.name} model for {descriptor.purpose}, "
                                "not an upscaler; it belongs in its own folder")
    descriptor.model.eval()
    return descriptor
