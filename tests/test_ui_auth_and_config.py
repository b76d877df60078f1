"""Login credentials from the flags, and ui-config.json (UI defaults) reading and writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modules.cmd_args import parse_args
from modules.ui.auth import AuthConfigError, credentials_from_args, parse_credentials
from modules.ui.ui_config import UiConfig


def test_credentials_are_user_password_pairs_and_passwords_may_hold_colons() -> None:
    assert parse_credentials("alice:pw1, bob:a:b:c,") == [("alice", "pw1"), ("bob", "a:b:c")]


@pytest.mark.parametrize("text", ["alice", "alice:", ":secret"])
def test_malformed_credentials_are_named(text: str) -> None:
    with pytest.raises(AuthConfigError, match="is not in the form user:password"):
        parse_credentials(text)


def test_no_flags_means_no_login(tmp_path: Path) -> None:
    assert credentials_from_args(parse_args([], environ={})) is None


def test_flag_and_file_are_combined(tmp_path: Path) -> None:
    file = tmp_path / "auth.txt"
    file.write_text("carol:pw3\ndave:pw4,erin:pw5\n", encoding="utf-8")
    args = parse_args(["--gradio-auth", "alice:pw1", "--gradio-auth-path", str(file)], environ={})
    assert credentials_from_args(args) == [("alice", "pw1"), ("carol", "pw3"), ("dave", "pw4"),
                                           ("erin", "pw5")]


def test_missing_auth_file_is_a_clear_error(tmp_path: Path) -> None:
    args = parse_args(["--gradio-auth-path", str(tmp_path / "nope.txt")], environ={})
    with pytest.raises(AuthConfigError, match="--gradio-auth-path: cannot read .*nope.txt"):
        credentials_from_args(args)


def test_ui_config_returns_stored_values_in_the_default_type(tmp_path: Path) -> None:
    path = tmp_path / "ui-config.json"
    path.write_text(json.dumps({"txt2img/Sampling steps/value": 30.0, "txt2img/CFG Scale/value": 5,
                                "txt2img/Sampling method/value": "Euler a"}), encoding="utf-8")
    cfg = UiConfig(path)
    steps = cfg.value("txt2img/Sampling steps/value", 20)
    assert steps == 30 and isinstance(steps, int)
    cfg_scale = cfg.value("txt2img/CFG Scale/value", 7.0)
    assert cfg_scale == 5.0 and isinstance(cfg_scale, float)
    assert cfg.value("txt2img/Sampling method/value", "DPM++ 2M", ["DPM++ 2M", "Euler a"]) == "Euler a"
    assert cfg.warnings == []


def test_ui_config_rejects_values_that_do_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "ui-config.json"
    stored = {"a/value": "twenty", "b/value": "Gone sampler", "c/value": 1}
    path.write_text(json.dumps(stored), encoding="utf-8")
    cfg = UiConfig(path)
    assert cfg.value("a/value", 20) == 20
    assert cfg.value("b/value", "DPM++ 2M", ["DPM++ 2M"]) == "DPM++ 2M"
    assert cfg.value("c/value", False) is False
    assert len(cfg.warnings) == 3 and "a/value = 'twenty' is not a int" in cfg.warnings[0]


def test_slider_ranges_can_be_widened_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ui-config.json"
    path.write_text(json.dumps({"txt2img/Sampling steps/maximum": 300}), encoding="utf-8")
    assert UiConfig(path).slider("txt2img/Sampling steps", 20, 1, 150, 1) == {
        "value": 20, "minimum": 1, "maximum": 300, "step": 1}


def test_new_keys_are_written_once_and_unknown_keys_kept(tmp_path: Path) -> None:
    path = tmp_path / "ui-config.json"
    path.write_text(json.dumps({"extension/Thing/value": 3}), encoding="utf-8")
    cfg = UiConfig(path)
    cfg.value("txt2img/Width/value", 512)
    cfg.save_if_new_keys()
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written == {"extension/Thing/value": 3, "txt2img/Width/value": 512}
    assert cfg.update({"txt2img/Width/value": 768, "txt2img/Height/value": 512}) == [
        "txt2img/Width/value", "txt2img/Height/value"]
    assert json.loads(path.read_text(encoding="utf-8"))["txt2img/Width/value"] == 768
    assert not list(tmp_path.glob("*.tmp*")), "written atomically, no temp file left"


def test_corrupt_ui_config_is_kept_aside_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "ui-config.json"
    path.write_text("{oops", encoding="utf-8")
    cfg = UiConfig(path)
    assert cfg.value("x/value", 1) == 1
    aside = list(tmp_path.glob("ui-config.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text(encoding="utf-8") == "{oops"
    assert "ui-config.json was unreadable" in cfg.warnings[0]
