"""Settings files survive concurrency, crashes and bad values (each test failed before the fix).

Before: four threads writing options got FileNotFoundError on a shared `config.json.tmp<pid>`
and readers saw invalid JSON; a damaged file reset every setting silently; values such as
`quicksettings_list: [{"a": 1}]`, `samples_format: "exe"`, NaN or 1e30 were stored.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from modules.hashing import HashCache
from modules.settings.runtime_checks import install_checks
from modules.settings.store import SettingsError, SettingsStore
from modules.styles import StyleDatabase
from modules.ui.ui_config import UiConfig


def test_concurrent_writes_never_fail_and_the_file_is_always_valid(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "config.json")
    errors: list[BaseException] = []
    bad_reads = 0
    stop = threading.Event()

    def writer(n: int) -> None:
        try:
            for i in range(60):
                store.update({"jpeg_quality": 1 + (n * 60 + i) % 100})
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    def reader() -> None:
        nonlocal bad_reads
        while not stop.is_set():
            try:
                json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
            except FileNotFoundError:
                pass
            except ValueError:
                bad_reads += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == [] and bad_reads == 0
    on_disk = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert on_disk["jpeg_quality"] == store.get("jpeg_quality")  # the last answered write is the file
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") or ".tmp" in p.name]


def test_damaged_file_is_kept_aside_said_on_console_and_restored_from_backup(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    SettingsStore(path).update({"jpeg_quality": 55, "samples_format": "webp"})
    path.write_text('{"jpeg_quality": 55, "samples_for', encoding="utf-8")  # cut mid-write
    (tmp_path / ".config.json.abc123.tmp").write_text("{", encoding="utf-8")  # a crashed writer's leftover
    store = SettingsStore(path)
    assert store.get("jpeg_quality") == 55 and store.get("samples_format") == "webp"
    assert any("restored" in w and "config.json.corrupt-" in w for w in store.warnings)
    assert "config.json was unreadable" in capsys.readouterr().err
    assert len(list(tmp_path.glob("config.json.corrupt-*"))) == 1
    assert not list(tmp_path.glob(".config.json.*.tmp"))


@pytest.mark.parametrize(("key", "value", "named"), [
    ("quicksettings_list", [{"a": 1}], "list of names"),
    ("samples_format", "exe", "png"),
    ("CLIP_stop_at_last_layers", 1e30, "from 1"),
    ("CLIP_stop_at_last_layers", 1000, "from 1"),
    ("s_noise", float("nan"), "finite"),
    ("eta_ddim", float("inf"), "finite"),
    ("sd_model_checkpoint", 42, "text"),
    ("samples_filename_pattern", "/srv/victim", "without /"),
    ("directories_filename_pattern", "../../x", "'..'"),
    ("jpeg_quality", "x" * 10, "whole number"),
])
def test_bad_values_are_refused_naming_key_and_allowed(tmp_path: Path, key: str, value: object, named: str) -> None:
    store = SettingsStore(tmp_path / "config.json")
    with pytest.raises(SettingsError) as err:
        store.update({key: value})
    assert key in str(err.value) and named in str(err.value)
    assert "NaN" not in (tmp_path / "config.json").read_text() if (tmp_path / "config.json").exists() else True


def test_runtime_rules_folders_and_samplers(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "config.json")
    install_checks(store, tmp_path, [tmp_path.parent / "allowed"], ["Euler", "DDIM"])
    for folder in ("/srv", "../../srv", str(tmp_path.parent / "elsewhere")):
        with pytest.raises(SettingsError, match="outside the data folder.*--allowed-output-dir"):
            store.update({"outdir_txt2img_samples": folder})
    store.update({"outdir_txt2img_samples": "mine/pictures", "outdir_grids": str(tmp_path.parent / "allowed" / "g")})
    with pytest.raises(SettingsError, match="every sampler"):
        store.update({"hide_samplers": ["Euler", "DDIM"]})
    store.update({"hide_samplers": ["DDIM"]})


def test_bad_stored_values_fall_back_to_defaults_and_keep_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"sd_model_checkpoint": 42, "quicksettings_list": [{"a": 1}], "jpeg_quality": 91,
                                "outdir_samples": "/etc", "extension_key": "kept"}), encoding="utf-8")
    store = SettingsStore(path)
    install_checks(store, tmp_path, [], ["Euler"])
    assert store.get("sd_model_checkpoint") is None and store.get("jpeg_quality") == 91
    assert store.get("quicksettings_list") == store.defaults()["quicksettings_list"]
    assert store.get("outdir_samples") == "" and store.get("extension_key") == "kept"
    named = " ".join(store.warnings)
    assert all(k in named for k in ("sd_model_checkpoint", "quicksettings_list", "outdir_samples"))


def test_nan_in_a_stored_file_is_refused_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"s_noise": NaN, "jpeg_quality": 70}', encoding="utf-8")
    store = SettingsStore(path)
    assert store.get("s_noise") == 1.0 and store.warnings
    store.save()
    assert "NaN" not in path.read_text(encoding="utf-8")


def test_styles_cut_mid_quote_are_reported_and_restored(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "styles.csv"
    db = StyleDatabase([path])
    for name in ("one", "two", "three"):
        db.set_style(name, f"{name}, {{prompt}}", "neg, x")
    db.save_styles()
    full = path.read_bytes()
    path.write_bytes(full[: full.index(b"two") + 8])  # cut inside the quoted prompt of "two"
    db = StyleDatabase([path])
    said = " ".join(db.load_errors)
    assert "cut off" in said and "after style 'one'" in said and "restored" in said
    assert sorted(db.styles) == ["one", "three", "two"]
    assert "styles.csv was unreadable" in capsys.readouterr().err


def test_ui_config_and_hash_cache_restore_from_backup(tmp_path: Path) -> None:
    ui = UiConfig(tmp_path / "ui-config.json")
    ui.update({"txt2img/Steps/value": 33})
    (tmp_path / "ui-config.json").write_text("{", encoding="utf-8")
    again = UiConfig(tmp_path / "ui-config.json")
    assert again.value("txt2img/Steps/value", 20) == 33 and "restored" in again.warnings[0]
    model = tmp_path / "m.bin"
    model.write_bytes(b"m")
    cache = HashCache(tmp_path / "cache" / "hashes.json")
    digest = cache.get_or_compute("checkpoint", "m", model)
    (tmp_path / "cache" / "hashes.json").write_text('{"checkpoint/m": {"sha', encoding="utf-8")
    assert HashCache(tmp_path / "cache" / "hashes.json").get_cached("checkpoint", "m", model) == digest
