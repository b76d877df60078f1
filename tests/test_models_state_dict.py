"""Reading checkpoint files: formats, unwrapping, and clear errors for broken files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modules.models.state_dict import (
    CheckpointLoadError,
    is_diffusers_folder,
    read_safetensors_metadata,
    read_state_dict,
)

WEIGHTS = {
    "model.diffusion_model.input_blocks.0.0.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
    "first_stage_model.quant_conv.bias": torch.tensor([1.5, -2.0], dtype=torch.float16),
}


def _assert_same(loaded: dict[str, torch.Tensor]) -> None:
    assert set(loaded) == set(WEIGHTS)
    for key, value in WEIGHTS.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value)


def test_safetensors_round_trip_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file(WEIGHTS, str(path), metadata={"modelspec.prediction_type": "v", "ss_note": "x"})
    _assert_same(read_state_dict(path))
    assert read_safetensors_metadata(path) == {"modelspec.prediction_type": "v", "ss_note": "x"}


def test_ckpt_state_dict_key_is_unwrapped_and_non_tensors_dropped(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    torch.save({"epoch": 1, "global_step": 5, "state_dict": {**WEIGHTS, "some_int": 3}}, path)
    _assert_same(read_state_dict(path))


def test_bare_pt_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save(WEIGHTS, path)
    _assert_same(read_state_dict(path))


def test_legacy_clip_keys_get_text_model_level(tmp_path: Path) -> None:
    path = tmp_path / "old.safetensors"
    old = {"cond_stage_model.transformer.embeddings.token_embedding.weight": torch.zeros(2, 2)}
    save_file(old, str(path))
    assert list(read_state_dict(path)) == [
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
    ]


def test_truncated_safetensors_names_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    save_file(WEIGHTS, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(CheckpointLoadError, match=r"cut\.safetensors' is truncated.*download it again"):
        read_state_dict(path)


def test_garbage_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(bytes(range(256)) * 2)
    with pytest.raises(CheckpointLoadError, match=r"junk\.safetensors.*(not a safetensors file|corrupt)"):
        read_state_dict(path)


def test_html_page_and_lfs_pointer_are_recognised(tmp_path: Path) -> None:
    page = tmp_path / "model.safetensors"
    page.write_bytes(b"<!DOCTYPE html><html><body>Access denied</body></html>")
    with pytest.raises(CheckpointLoadError, match="is a web page, not a model"):
        read_state_dict(page)
    pointer = tmp_path / "model.ckpt"
    pointer.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 4265380512\n")
    with pytest.raises(CheckpointLoadError, match="git-lfs pointer"):
        read_state_dict(pointer)


def test_truncated_ckpt_names_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.ckpt"
    torch.save({"state_dict": WEIGHTS}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointLoadError, match=r"cut\.ckpt' could not be read as a PyTorch checkpoint.*truncated"
    ):
        read_state_dict(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.safetensors", b"", r"empty \(0 bytes\)"),
        ("model.onnx", b"1234", r"unknown checkpoint extension '\.onnx'"),
        ("list.pt", None, r"holds a list, not a state dict"),
        ("none.ckpt", None, r"contains no tensors"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, name: str, content: bytes | None, expected: str) -> None:
    path = tmp_path / name
    if name == "list.pt":
        torch.save([torch.ones(1)], path)
    elif name == "none.ckpt":
        torch.save({"state_dict": {"step": 3}}, path)
    else:
        path.write_bytes(content or b"")
    with pytest.raises(CheckpointLoadError, match=expected):
        read_state_dict(path)


def test_missing_file_and_folders(tmp_path: Path) -> None:
    with pytest.raises(CheckpointLoadError, match="does not exist"):
        read_state_dict(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointLoadError, match="without model_index.json"):
        read_state_dict(tmp_path)
    (tmp_path / "model_index.json").write_text("{}")
    assert is_diffusers_folder(tmp_path)
    with pytest.raises(CheckpointLoadError, match="is a diffusers folder"):
        read_state_dict(tmp_path)


def test_metadata_of_non_safetensors_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    torch.save(WEIGHTS, path)
    assert read_safetensors_metadata(path) == {}
