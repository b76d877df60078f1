"""A1111-compatible hashes and the mtime+size-validated hash cache."""

import hashlib
import json
import os
import struct
import threading

import pytest

from modules import hashing
from modules.hashing import HashCache, addnet_hash_safetensors, model_hash_old, sha256_file


def test_sha256_and_old_model_hash(tmp_path):
    data = bytes(range(256)) * 5000  # 1.28 MB: past the 1 MiB offset of the old hash
    path = tmp_path / "m.ckpt"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert model_hash_old(path) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    assert model_hash_old(tmp_path / "missing") == "NOFILE"


def test_addnet_hash_skips_the_header(tmp_path):
    header = json.dumps({"__metadata__": {"ss_network_dim": "4"}}).encode()
    body = os.urandom(3000)
    path = tmp_path / "lora.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + body)
    assert addnet_hash_safetensors(path) == hashlib.sha256(body).hexdigest()
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", 10**9) + b"{}")
    with pytest.raises(ValueError, match="exceeds the file size"):
        addnet_hash_safetensors(tmp_path / "bad.safetensors")
    (tmp_path / "tiny.safetensors").write_bytes(b"abc")
    with pytest.raises(ValueError, match="8-byte header"):
        addnet_hash_safetensors(tmp_path / "tiny.safetensors")


class Spy:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, path):
        with self.lock:
            self.calls.append(path)
        return sha256_file(path)


def test_cache_hashes_unchanged_file_once_and_rehashes_changed(tmp_path):
    model = tmp_path / "a.safetensors"
    model.write_bytes(b"one")
    cache_file = tmp_path / "cache" / "hashes.json"
    spy = Spy()
    cache = HashCache(cache_file)
    assert cache.get_cached("checkpoint", "a.safetensors", model) is None
    first = cache.get_or_compute("checkpoint", "a.safetensors", model, compute=spy)
    assert first == hashlib.sha256(b"one").hexdigest()
    assert cache.get_or_compute("checkpoint", "a.safetensors", model, compute=spy) == first
    fresh = HashCache(cache_file)  # a new process reads the file
    assert fresh.get_or_compute("checkpoint", "a.safetensors", model, compute=spy) == first
    assert len(spy.calls) == 1
    entry = json.loads(cache_file.read_text())["checkpoint/a.safetensors"]
    assert entry["sha256"] == first and entry["size"] == 3
    st = model.stat()
    os.utime(model, (st.st_atime, st.st_mtime + 5))  # touched: same content, new mtime -> rehash
    assert fresh.get_or_compute("checkpoint", "a.safetensors", model, compute=spy) == first
    model.write_bytes(b"two!")
    assert fresh.get_or_compute("checkpoint", "a.safetensors", model, compute=spy) == hashlib.sha256(
        b"two!").hexdigest()
    assert len(spy.calls) == 3
    assert not list(cache_file.parent.glob("*.tmp"))


def test_cache_keys_are_separate_and_threads_share_one_computation(tmp_path):
    model = tmp_path / "x.bin"
    model.write_bytes(b"x" * 1000)
    spy = Spy()
    cache = HashCache(tmp_path / "h.json")
    threads = [threading.Thread(target=cache.get_or_compute, args=("lora", "x", model, spy))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(spy.calls) == 1
    cache.get_or_compute("checkpoint", "x", model, compute=spy)
    assert len(spy.calls) == 2


def test_damaged_cache_is_rebuilt_and_missing_file_is_an_error(tmp_path, caplog):
    cache_file = tmp_path / "h.json"
    cache_file.write_text("{not json")
    model = tmp_path / "m"
    model.write_bytes(b"m")
    cache = HashCache(cache_file)
    assert cache.get_or_compute("checkpoint", "m", model) == hashlib.sha256(b"m").hexdigest()
    assert "unreadable" in caplog.text
    assert json.loads(cache_file.read_text())["checkpoint/m"]["size"] == 1
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cache.get_or_compute("checkpoint", "gone", tmp_path / "gone")


def test_module_has_no_mutable_globals():
    mutable = [k for k, v in vars(hashing).items()
               if isinstance(v, (dict, list, set)) and not k.startswith("__")]
    assert mutable == []
