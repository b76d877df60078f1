"""config.json: atomic saves, corrupt files kept aside, per-request views that never leak."""

import json

import pytest

from modules.settings.store import SettingsError, SettingsStore


def test_defaults_save_and_reload(tmp_path):
    path = tmp_path / "config.json"
    store = SettingsStore(path)
    assert store["samples_format"] == "png" and store["CLIP_stop_at_last_layers"] == 1
    store.update({"samples_format": "jpg", "CLIP_stop_at_last_layers": "2"})
    again = SettingsStore(path)
    assert again["samples_format"] == "jpg" and again["CLIP_stop_at_last_layers"] == 2
    assert not list(tmp_path.glob("*.tmp*"))


def test_corrupt_file_is_kept_aside_with_warning(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json", encoding="utf-8")
    store = SettingsStore(path)
    assert store["samples_format"] == "png"
    assert store.warnings and "kept as" in store.warnings[0]
    aside = list(tmp_path.glob("config.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"


def test_unknown_keys_in_file_are_kept(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"some_extension_option": 5}), encoding="utf-8")
    store = SettingsStore(path)
    store.update({"jpeg_quality": 90})
    assert json.loads(path.read_text())["some_extension_option"] == 5


def test_bad_values_are_refused_with_the_key_named(tmp_path):
    store = SettingsStore(tmp_path / "config.json")
    with pytest.raises(SettingsError, match="CLIP_stop_at_last_layers"):
        store.update({"CLIP_stop_at_last_layers": "two"})
    with pytest.raises(SettingsError, match="emphasis"):
        store.update({"emphasis": "Loud"})
    with pytest.raises(SettingsError, match="unknown setting 'nope'"):
        store.update({"nope": 1})
    assert store["CLIP_stop_at_last_layers"] == 1


def test_view_overrides_do_not_leak(tmp_path):
    store = SettingsStore(tmp_path / "config.json")
    view = store.view({"CLIP_stop_at_last_layers": 2})
    assert view["CLIP_stop_at_last_layers"] == 2 and view.CLIP_stop_at_last_layers == 2
    assert store["CLIP_stop_at_last_layers"] == 1
    assert store.view()["CLIP_stop_at_last_layers"] == 1
