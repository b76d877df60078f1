"""Restricted unpickling for `.ckpt` / `.pt` checkpoints.

A pickle can name any importable callable and have it called while loading; a checkpoint from the
internet must therefore never meet the stock unpickler. `RestrictedUnpickler.find_class` allows only
what real Stable Diffusion checkpoints contain (tensor rebuild functions, storages, dtypes,
`OrderedDict`, plain containers, the numpy scalars that Lightning's callback state uses, and
Lightning's `ModelCheckpoint` as an inert placeholder) and refuses everything else *before* it is
imported, so nothing from the file ever runs.

It is used through `torch.load(..., pickle_module=RESTRICTED_PICKLE_MODULE, weights_only=False)`:
torch then does the zip/storage plumbing while every global goes through our allow-list.
"""

from __future__ import annotations

import io
import pickle
import types
import zipfile
from pathlib import Path
from typing import Any

import torch

_TORCH_REBUILD_FUNCTIONS = frozenset(
    {
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v3"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch._utils", "_rebuild_device_tensor_from_numpy"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch.nn.parameter", "Parameter"),
        ("torch", "Tensor"),
        ("torch", "Size"),
        ("torch", "device"),
    }
)

# torch.save writes protocol 2, which names builtins the Python 2 way ("__builtin__").
_PLAIN_GLOBALS = frozenset(
    {("collections", "OrderedDict"), ("collections", "defaultdict")}
    | {
        (module, name)
        for module in ("builtins", "__builtin__")
        for name in ("dict", "list", "tuple", "set", "frozenset", "bytearray", "slice", "complex")
    }
    | {("_codecs", "encode")}  # how protocol-2 pickles spell bytes; returns bytes, runs nothing
)

# numpy moved `core` to `_core` in 2.0; checkpoints from either era name their own spelling.
_NUMPY_GLOBALS = frozenset(
    {
        (module, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("scalar", "_reconstruct")
    }
    | {("numpy", "dtype"), ("numpy", "ndarray")}
)

# Training callbacks pickled into Lightning checkpoints; we never need their contents.
_INERT_PLACEHOLDERS = frozenset(
    {
        ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint"),
        ("lightning.pytorch.callbacks.model_checkpoint", "ModelCheckpoint"),
    }
)


class UnsafeCheckpointError(Exception):
    """The pickle asked for a global outside the allow-list; nothing from it was run."""

    def __init__(self, forbidden: str, path: Path | None = None) -> None:
        self.forbidden = forbidden
        self.path = path
        where = f"'{path}'" if path is not None else "The checkpoint"
        super().__init__(
            f"{where} was refused: its pickle asks for '{forbidden}', which is not a tensor, storage or "
            "plain container, so it could run code. Nothing from the file was executed. If you trust the "
            "file, convert it to .safetensors with a trusted tool; otherwise delete it."
        )


class InertPlaceholder:
    """Stands in for allowed-but-unneeded classes (Lightning callbacks): accepts any state, does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _is_torch_dtype_or_storage(module: str, name: str) -> bool:
    if module != "torch":
        return False
    if name.endswith("Storage"):
        return True
    return isinstance(getattr(torch, name, None), torch.dtype)


def is_allowed_global(module: str, name: str) -> bool:
    """Whether a pickled global may be resolved; decided by name only, before any import."""
    key = (module, name)
    return (
        key in _TORCH_REBUILD_FUNCTIONS
        or key in _PLAIN_GLOBALS
        or key in _NUMPY_GLOBALS
        or key in _INERT_PLACEHOLDERS
        or _is_torch_dtype_or_storage(module, name)
    )


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` resolves only allow-listed globals."""

    def find_class(self, module: str, name: str) -> Any:
        if not is_allowed_global(module, name):
            raise UnsafeCheckpointError(f"{module}.{name}")
        if (module, name) in _INERT_PLACEHOLDERS:
            return InertPlaceholder
        return super().find_class(module, name)


def restricted_load(file: Any, **kwargs: Any) -> Any:
    """`pickle.load` through the restricted unpickler (torch's legacy format calls this directly)."""
    return RestrictedUnpickler(file, **kwargs).load()


def restricted_loads(data: bytes, **kwargs: Any) -> Any:
    """`pickle.loads` through the restricted unpickler."""
    return restricted_load(io.BytesIO(data), **kwargs)


# What `torch.load(pickle_module=...)` needs: `Unpickler` and `load`.
RESTRICTED_PICKLE_MODULE = types.SimpleNamespace(
    Unpickler=RestrictedUnpickler, load=restricted_load, loads=restricted_loads, __name__="restricted_pickle"
)


def _refuse_torchscript(path: Path) -> None:
    """torch.load hands TorchScript archives to torch.jit.load, which runs their code: refuse them."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        if any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist()):
            raise UnsafeCheckpointError("a TorchScript program (constants.pkl / code/)", path)


def load_pickled_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a torch pickle file with the restricted unpickler; mmap when the zip format allows it."""
    _refuse_torchscript(path)
    kwargs: dict[str, Any] = {
        "map_location": map_location,
        "pickle_module": RESTRICTED_PICKLE_MODULE,
        "weights_only": False,
    }
    try:
        if zipfile.is_zipfile(path):
            return torch.load(path, mmap=True, **kwargs)
        return torch.load(path, **kwargs)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(err.forbidden, path) from None
