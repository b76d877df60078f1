"""Checkpoint registry: scanning, A1111 names/titles/aliases, hashing without blocking startup."""

import hashlib
import logging

import pytest

from modules.hashing import HashCache
from modules.models.registry import CheckpointRegistry, to_api_dict


@pytest.fixture
def layout(tmp_path):
    root = tmp_path / "models" / "Stable-diffusion"
    files = {
        "b.safetensors": b"bbbb", "sub/A.ckpt": b"aaaa", "sub/A.yaml": b"model: {}",
        "x.vae.safetensors": b"v",
        ".hidden/h.safetensors": b"h", "diff/model_index.json": b"{}", "diff/unet/w.safetensors": b"w",
        "notes.txt": b"n", "._b.safetensors": b"mac",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    extra = tmp_path / "elsewhere" / "extra.safetensors"
    extra.parent.mkdir()
    extra.write_bytes(b"eeee")
    demo = tmp_path / "app" / "demo-shapes.safetensors"
    demo.parent.mkdir()
    demo.write_bytes(b"demo")
    return root, extra, demo


def make(layout, tmp_path, **kw):
    root, extra, demo = layout
    kw.setdefault("hash_cache", HashCache(tmp_path / "cache" / "hashes.json"))
    registry = CheckpointRegistry([root], [extra], demo_checkpoint=demo, **kw)
    registry.refresh()
    return registry


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_scan_names_order_and_fields(layout, tmp_path):
    registry = make(layout, tmp_path)
    infos = registry.list()
    assert [i.name for i in infos] == ["demo/demo-shapes.safetensors", "b.safetensors", "diff",
                                       "extra.safetensors", "sub/A.ckpt"]
    demo, b, diff, extra, a = infos
    assert demo.is_demo and not b.is_demo and diff.is_folder
    assert a.model_name == "sub_A" and a.stem == "A" and a.config == layout[0] / "sub" / "A.yaml"
    assert diff.model_name == "diff" and diff.config is None and b.config is None
    assert a.title == "sub/A.ckpt" and a.hash_short is None  # not hashed yet: startup did not hash


def test_ensure_hash_sets_title_and_api_shape(layout, tmp_path):
    registry = make(layout, tmp_path)
    a = registry.find("sub/A.ckpt")
    assert registry.ensure_hash(a) == sha(b"aaaa")
    assert a.title == f"sub/A.ckpt [{sha(b'aaaa')[:10]}]" and a.short_title == f"A [{sha(b'aaaa')[:10]}]"
    assert to_api_dict(a) == {
        "title": a.title, "model_name": "sub_A", "hash": sha(b"aaaa")[:10], "sha256": sha(b"aaaa"),
        "filename": str(layout[0] / "sub" / "A.ckpt"), "config": str(layout[0] / "sub" / "A.yaml")}
    assert registry.ensure_hash(registry.find("diff")) is None
    unhashed = to_api_dict(registry.find("b"))
    assert unhashed["hash"] is None and unhashed["sha256"] is None and unhashed["config"] is None


def test_find_by_every_alias(layout, tmp_path):
    registry = make(layout, tmp_path)
    a = registry.find("sub/A.ckpt")
    registry.ensure_hash(a)
    short, old = sha(b"aaaa")[:10], sha(b"")[:8]  # the old hash reads 64 KiB at 1 MiB: empty for tiny files
    for alias in ["sub/A.ckpt", a.title, "sub_A", "A", short, sha(b"aaaa"), f"sub/A.ckpt [{short}]",
                  f"A [{short}]", "sub\\A.ckpt", f"sub/A.ckpt [{old}]"]:
        assert registry.find(alias) is a, alias
    assert registry.find("A.ck") is a  # closest match: substring of a title
    assert registry.find("sub/A.ckpt [ffffffffff]") is a  # stale hash in a saved title
    assert registry.find("demo") is registry.list()[0]
    assert registry.find("nothing like it") is None and registry.find("") is None


def test_background_hashing_fills_titles_and_cache_serves_next_start(layout, tmp_path):
    registry = make(layout, tmp_path)
    assert registry.start_background_hashing() is not None
    assert registry.wait_for_hashing(timeout=30)
    titles = {i.name: i.title for i in registry.list()}
    assert titles["b.safetensors"] == f"b.safetensors [{sha(b'bbbb')[:10]}]"
    assert titles["demo/demo-shapes.safetensors"].endswith(f"[{sha(b'demo')[:10]}]")
    assert titles["diff"] == "diff"
    again = make(layout, tmp_path)  # new process, same cache file: hashes without hashing
    assert again.find("b.safetensors").sha256 == sha(b"bbbb")


def test_no_hashing(layout, tmp_path):
    registry = make(layout, tmp_path, hashing_enabled=False)
    assert registry.start_background_hashing() is None
    b = registry.find("b.safetensors")
    assert registry.ensure_hash(b) is None and b.title == "b.safetensors"


def test_without_cache_hashes_in_memory_and_detects_changes(layout, tmp_path):
    registry = make(layout, tmp_path, hash_cache=None)
    b = registry.find("b.safetensors")
    assert registry.ensure_hash(b) == sha(b"bbbb")
    b.filename.write_bytes(b"changed!")
    registry.refresh()
    assert registry.find("b.safetensors") is b and b.sha256 is None
    assert registry.ensure_hash(b) == sha(b"changed!")


def test_refresh_sees_new_and_removed_files(layout, tmp_path):
    registry = make(layout, tmp_path)
    root = layout[0]
    b = registry.find("b.safetensors")
    (root / "new.safetensors").write_bytes(b"new")
    (root / "sub" / "A.ckpt").unlink()
    registry.refresh()
    names = [i.name for i in registry.list()]
    assert "new.safetensors" in names and "sub/A.ckpt" not in names
    assert registry.find("b.safetensors") is b  # known files keep their info object


def test_duplicate_names_and_missing_extra_file(tmp_path, caplog):
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
        (d / "same.safetensors").write_bytes(d.name.encode())
    registry = CheckpointRegistry([one, two], [tmp_path / "missing.safetensors"], None)
    with caplog.at_level(logging.WARNING):
        registry.refresh()
    assert [i.filename for i in registry.list()] == [one / "same.safetensors"]
    assert "two checkpoints are named same.safetensors" in caplog.text and "does not exist" in caplog.text


def test_empty_and_missing_folders(tmp_path):
    registry = CheckpointRegistry([tmp_path / "nope"], [], None)
    assert registry.refresh() == [] and registry.find("x") is None
