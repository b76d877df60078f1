"""Finding and loading the DeepDanbooru model file users copy into `models/torch_deepdanbooru/`.

The file is A1111's `model-resnet_custom_v3.pt`: a torch pickle of the network's state dict with
one extra entry, `"tags"`, the list of tag names in output order. It is read only through the
restricted unpickler (a list of strings and tensors is all it needs). A `.safetensors` conversion
is accepted too; safetensors holds only tensors, so its tag list comes from the header metadata
(`"tags"`: a JSON list) or from a `tags.txt` beside it (one tag per line, the original DeepDanbooru
project's file). The network's width and tag count are read from the file's shapes, and the state
dict must fit the network exactly (strict load).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from modules.deepbooru.network import DeepDanbooruNet, layer_plan

MODEL_NAME = "model-resnet_custom_v3.pt"
FOLDER_NAME = "torch_deepdanbooru"
SUFFIXES = (".pt", ".safetensors")
TAGS_KEY = "tags"
TAGS_FILE = "tags.txt"


class DeepBooruModelMissingError(LookupError):
    """No DeepDanbooru model file in the folder; the message says which file goes where."""


class DeepBooruLoadError(ValueError):
    """The file is there but is not a usable DeepDanbooru resnet_custom_v3 model."""


def missing_message(folder: Path) -> str:
    return (f"DeepBooru needs the DeepDanbooru model file {MODEL_NAME}: copy it into {folder} "
            f"(models/{FOLDER_NAME}/ in the data folder), then try again.")


def find_model_file(folder: Path) -> Path:
    """`model-resnet_custom_v3.pt` (or its .safetensors), else the first .pt/.safetensors in `folder`."""
    preferred = [folder / MODEL_NAME, (folder / MODEL_NAME).with_suffix(".safetensors")]
    for path in preferred:
        if path.is_file():
            return path
    others = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()) \
        if folder.is_dir() else []
    if others:
        return others[0]
    raise DeepBooruModelMissingError(missing_message(folder))


def _tags_beside(path: Path) -> list[str] | None:
    sidecar = path.parent / TAGS_FILE
    if not sidecar.is_file():
        return None
    return [line.strip() for line in sidecar.read_text(encoding="utf-8").splitlines() if line.strip()]


def _read_pickle(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    from modules.models.safe_unpickle import UnsafeCheckpointError, load_pickled_checkpoint

    try:
        raw = load_pickled_checkpoint(path)
    except UnsafeCheckpointError:
        raise
    except Exception as err:  # torch raises many types for a damaged file
        raise DeepBooruLoadError(f"'{path}' could not be read as a PyTorch file ({err}); copy it again.") from err
    if not isinstance(raw, dict):
        raise DeepBooruLoadError(f"'{path}' holds a {type(raw).__name__}, not the DeepDanbooru state dict.")
    tags = raw.get(TAGS_KEY)
    weights = {k: v for k, v in raw.items() if k != TAGS_KEY}
    return weights, [str(t) for t in tags] if isinstance(tags, list | tuple) else None


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    import safetensors.torch

    from modules.models.state_dict import read_safetensors_metadata

    try:
        weights = safetensors.torch.load_file(str(path))
    except Exception as err:  # safetensors has its own error types for every kind of damage
        raise DeepBooruLoadError(f"'{path}' is not a readable safetensors file ({err}); copy it again.") from err
    meta = read_safetensors_metadata(path).get(TAGS_KEY)
    if meta is None:
        return weights, None
    try:
        tags = json.loads(meta)
    except json.JSONDecodeError as err:
        raise DeepBooruLoadError(f"'{path}': its 'tags' metadata is not a JSON list ({err}).") from err
    return weights, [str(t) for t in tags]


def read_model_file(path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict (without the tag list) and the tag names."""
    weights, tags = _read_safetensors(path) if path.suffix.lower() == ".safetensors" else _read_pickle(path)
    tags = tags if tags is not None else _tags_beside(path)
    if tags is None:
        raise DeepBooruLoadError(f"'{path}' has no tag list: A1111's {MODEL_NAME} carries it as 'tags'; for a "
                                 f"converted file put the tags, one per line, in {path.parent / TAGS_FILE}.")
    return weights, tags


def _shape_of(weights: dict[str, Any], key: str, path: Path) -> tuple[int, ...]:
    value = weights.get(key)
    if not isinstance(value, torch.Tensor) or value.dim() != 4:
        raise DeepBooruLoadError(f"'{path}' is not a DeepDanbooru resnet_custom_v3 model (no 4-D '{key}'); "
                                 f"use A1111's {MODEL_NAME}.")
    return tuple(value.shape)


def load_deepbooru(path: Path) -> DeepDanbooruNet:
    """The network the file describes, loaded strictly (CPU, float32, eval mode), with its `tags`."""
    weights, tags = read_model_file(path)
    width = _shape_of(weights, "n_Conv_0.weight", path)[0]
    head = layer_plan(width).head.name
    tag_count = _shape_of(weights, f"{head}.weight", path)[0]
    if len(tags) != tag_count:
        raise DeepBooruLoadError(f"'{path}' scores {tag_count} tags but its tag list names {len(tags)}.")
    with torch.device("meta"):  # no random init of 161M numbers only to overwrite them
        net = DeepDanbooruNet(width, tag_count)
    try:
        net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True, assign=True)
    except RuntimeError as err:
        raise DeepBooruLoadError(f"'{path}' does not match the resnet_custom_v3 layout ({str(err)[:300]}); "
                                 f"use A1111's {MODEL_NAME}.") from err
    net.tags = tuple(tags)
    return net.eval()
