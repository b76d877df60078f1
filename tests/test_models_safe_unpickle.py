"""The restricted unpickler: real checkpoint contents load, anything that could run code is refused."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.models.safe_unpickle import (
    InertPlaceholder,
    UnsafeCheckpointError,
    is_allowed_global,
    load_pickled_checkpoint,
    restricted_loads,
)
from modules.models.state_dict import read_state_dict


class _WritesMarker:
    """A payload whose unpickling would run os.system and create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_torch_checkpoint_with_os_system_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2), "payload": _WritesMarker(marker)}}, path)

    with pytest.raises(UnsafeCheckpointError) as info:
        read_state_dict(path)

    assert not marker.exists()
    message = str(info.value)
    assert str(path) in message
    assert "system" in info.value.forbidden  # posix.system / nt.system
    assert "Nothing from the file was executed" in message


def test_plain_pickle_with_os_system_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"a": _WritesMarker(marker)}, protocol=2))

    with pytest.raises(UnsafeCheckpointError, match="evil.pt"):
        load_pickled_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("os", "system"),
        ("subprocess", "Popen"),
        ("torch", "load"),
        ("numpy", "load"),
        ("torch._utils", "nonexistent"),
    ],
)
def test_dangerous_globals_are_not_allowed(module: str, name: str) -> None:
    assert not is_allowed_global(module, name)
    payload = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n."
    with pytest.raises(UnsafeCheckpointError, match=f"{module}.{name}"):
        restricted_loads(payload)


def test_real_checkpoint_contents_load(tmp_path: Path) -> None:
    """What SD checkpoints really hold: tensors in OrderedDicts, Lightning callback state, numpy scalars."""
    path = tmp_path / "model.ckpt"
    weights = collections.OrderedDict(
        a=torch.arange(6, dtype=torch.float16).reshape(2, 3), b=torch.tensor([1, 2])
    )
    torch.save(
        {
            "epoch": 3,
            "global_step": np.int64(470000),
            "best": np.float64(0.5),
            "array": np.arange(3),
            "tags": {"x", "y"},
            "state_dict": weights,
            "param": torch.nn.Parameter(torch.ones(2)),
        },
        path,
    )
    loaded = load_pickled_checkpoint(path)
    assert loaded["global_step"] == 470000
    assert loaded["tags"] == {"x", "y"}
    assert np.array_equal(loaded["array"], np.arange(3))
    assert torch.equal(loaded["state_dict"]["a"], weights["a"])
    assert loaded["state_dict"]["a"].dtype == torch.float16
    assert torch.equal(loaded["param"], torch.ones(2))


def test_lightning_model_checkpoint_becomes_inert_placeholder() -> None:
    payload = (
        b"\x80\x02cpytorch_lightning.callbacks.model_checkpoint\nModelCheckpoint\n)\x81}"
        b"X\x07\x00\x00\x00monitorq\x00X\x03\x00\x00\x00valsb."
    )
    obj = restricted_loads(payload)
    assert isinstance(obj, InertPlaceholder)
    assert obj.state == {"monitor": "val"}


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(UnsafeCheckpointError, match="TorchScript"):
        load_pickled_checkpoint(path)
