"""Installing and managing extensions through the code the Extensions tab calls: install from a
file:// git repository, bad input leaves nothing behind, "new commits" and update, enable/disable,
the --listen guard, install.py failures, Backup/Restore, the Available index, preload.py flags."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from modules.cmd_args import parse_args
from modules.extensions.host import ExtensionHost, load_extensions
from modules.extensions.install import InstallError
from modules.extensions.manage import filter_index, load_index
from modules.extensions.preload import add_extension_flags
from modules.runtime import build_runtime
from tests.fixtures.extensions import commit_file, git_repo, styler_files, write_extension


def make_host(data: Path, *flags: str) -> ExtensionHost:
    runtime = build_runtime(parse_args(["--data-dir", str(data), "--cpu", "--no-demo-model", "--skip-install",
                                        "--no-hashing", *flags], environ={}))
    host = load_extensions(runtime)
    host.manager.restart = lambda: host.restarts.append(1)
    host.restarts = []
    return host


@pytest.fixture()
def upstream(tmp_path: Path) -> tuple[Path, str]:
    folder = write_extension(tmp_path / "src" / "prompt-styler", styler_files())
    return folder, git_repo(folder)


def head(folder: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True).stdout.strip()


def test_install_from_file_url_then_new_commits_and_update(tmp_path: Path, upstream: tuple[Path, str]) -> None:
    source, url = upstream
    host = make_host(tmp_path / "data")
    message = host.manager.install(url)
    target = tmp_path / "data" / "extensions" / "prompt-styler"
    assert message == f"Installed into {target}. Use Installed tab to restart."
    assert (target / "scripts" / "prompt_styler.py").is_file()
    row = next(r for r in host.manager.rows() if r.name == "prompt-styler")
    assert row.remote == url and row.branch == "main" and row.commit == head(source)[:8] and row.date
    assert not list((tmp_path / "data" / "tmp").iterdir())  # the staging folder is gone

    assert host.manager.check_updates()["prompt-styler"] == "latest"
    commit_file(source, "NEWS.md", "a change upstream")
    assert host.manager.check_updates()["prompt-styler"] == "new commits"
    assert host.manager.update() == [f"prompt-styler: updated to {head(source)[:8]}"]
    assert head(target) == head(source) and (target / "NEWS.md").is_file()
    assert host.manager.check_updates()["prompt-styler"] == "latest"

    api = __import__("modules.api.extension_routes", fromlist=["extension_list"]).extension_list(host.runtime)
    assert api == [{"name": "prompt-styler", "remote": url, "branch": "main", "commit_hash": head(source),
                    "commit_date": api[0]["commit_date"], "version": head(source)[:8], "enabled": True}]


def test_install_a_branch_and_a_local_directory_name(tmp_path: Path, upstream: tuple[Path, str]) -> None:
    source, url = upstream
    subprocess.run(["git", "checkout", "-q", "-b", "dev"], cwd=source, check=True)
    commit_file(source, "DEV.md", "dev only")
    host = make_host(tmp_path / "data")
    host.manager.install(url, branch="dev", dirname="styler-dev")
    target = tmp_path / "data" / "extensions" / "styler-dev"
    assert (target / "DEV.md").is_file()
    assert next(r for r in host.manager.rows() if r.name == "styler-dev").branch == "dev"


def test_bad_input_is_a_clear_message_and_leaves_nothing(tmp_path: Path, upstream: tuple[Path, str]) -> None:
    _, url = upstream
    host = make_host(tmp_path / "data")
    ext_dir, tmp_dir = tmp_path / "data" / "extensions", tmp_path / "data" / "tmp"
    with pytest.raises(InstallError, match="could not clone"):
        host.manager.install((tmp_path / "missing.git").as_uri())
    with pytest.raises(InstallError, match="could not clone"):
        host.manager.install("https://127.0.0.1:9/nothing-here.git")
    with pytest.raises(InstallError, match="not allowed"):
        host.manager.install(url, dirname="../escape")
    with pytest.raises(InstallError, match="empty"):
        host.manager.install("  ")
    assert list(ext_dir.iterdir()) == [] and list(tmp_dir.iterdir()) == []
    assert not (tmp_path / "data" / "escape").exists()
    host.manager.install(url)
    with pytest.raises(InstallError, match="already exists"):
        host.manager.install(url)
    assert [p.name for p in ext_dir.iterdir()] == ["prompt-styler"] and list(tmp_dir.iterdir()) == []


def test_failing_install_py_is_named_and_not_installed(tmp_path: Path) -> None:
    bad = write_extension(tmp_path / "src" / "bad-install", {
        "install.py": "import sys\nprint('installing things')\nsys.exit('no wheel for this platform')\n"})
    url = git_repo(bad)
    runtime_args = ["--data-dir", str(tmp_path / "data"), "--cpu", "--no-demo-model", "--no-hashing"]
    host = load_extensions(build_runtime(parse_args(runtime_args, environ={})))  # without --skip-install
    with pytest.raises(InstallError, match="install.py of extension .* failed .*no wheel for this platform"):
        host.manager.install(url)
    assert list((tmp_path / "data" / "extensions").iterdir()) == []


def test_failing_install_py_at_launch_is_isolated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_extension(data / "extensions" / "bad-install", {"install.py": "raise SystemExit(3)\n"})
    write_extension(data / "extensions" / "styler", styler_files())
    runtime = build_runtime(parse_args(["--data-dir", str(data), "--cpu", "--no-demo-model", "--no-hashing"],
                                       environ={}))
    host = load_extensions(runtime)
    assert any("install.py of extension 'bad-install' failed (exit code 3)" in e for e in host.errors)
    assert {e.title for e in host.entries} == {"Prompt Styler", "Prompt Repeater"}


def test_enable_disable_through_apply(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_extension(data / "extensions" / "styler", styler_files())
    host = make_host(data)
    assert host.entries
    host.manager.apply([], "none")
    assert host.restarts == [1]
    assert json.loads((data / "config.json").read_text())["disabled_extensions"] == ["styler"]
    again = make_host(data)
    assert again.entries == [] and not next(r for r in again.manager.rows()).enabled
    again.manager.apply(["styler"], "none")
    assert make_host(data).entries
    assert make_host(data, "--disable-extra-extensions").entries == []


def test_listen_refuses_actions_unless_insecure_access(tmp_path: Path, upstream: tuple[Path, str]) -> None:
    _, url = upstream
    host = make_host(tmp_path / "a", "--listen", "--api-auth", "u:p")
    for action in (lambda: host.manager.install(url), host.manager.check_updates, lambda: host.manager.apply([])):
        with pytest.raises(PermissionError, match="--enable-insecure-extension-access"):
            action()
    assert list((tmp_path / "a" / "extensions").iterdir()) == [] and host.restarts == []
    assert make_host(tmp_path / "b", "--server-name", "0.0.0.0").access_allowed() is False
    allowed = make_host(tmp_path / "c", "--listen", "--enable-insecure-extension-access")
    allowed.manager.install(url)
    assert (tmp_path / "c" / "extensions" / "prompt-styler").is_dir()
    assert make_host(tmp_path / "d", "--api-auth", "u:p", "--gradio-auth", "u:p").access_allowed() is True


def test_backup_and_restore(tmp_path: Path, upstream: tuple[Path, str]) -> None:
    source, url = upstream
    host = make_host(tmp_path / "data")
    host.manager.install(url)
    target = tmp_path / "data" / "extensions" / "prompt-styler"
    first = head(target)
    saved = host.manager.save_state("before update")
    assert saved.parent.name == "config_states" and saved.name.endswith("_before_update.json")
    state = json.loads(saved.read_text())
    assert state["extensions"]["prompt-styler"]["commit_hash"] == first
    commit_file(source, "NEWS.md", "later")
    host.manager.check_updates()
    host.manager.update()
    assert head(target) != first
    host.manager.apply([], "none", restart=False)
    messages = host.manager.restore_state(saved.name)
    assert messages == [f"prompt-styler: at {first[:8]}"] and head(target) == first
    assert host.runtime.settings.get("disabled_extensions") == []  # enabled again, as saved
    with pytest.raises(ValueError, match="no saved state"):
        host.manager.restore_state("../config.json")


def test_available_index_from_a_local_file_and_offline(tmp_path: Path) -> None:
    index = {"tags": {"script": "Script", "ads": "Ads"}, "extensions": [
        {"name": "Zeta", "url": "https://example.invalid/zeta", "description": "style prompts", "tags": ["script"],
         "added": "2023-01-01"},
        {"name": "alpha", "url": "https://example.invalid/alpha.git", "description": "an ad", "tags": ["ads"],
         "added": "2024-01-01"},
        {"name": "Mid", "url": "https://example.invalid/mid", "description": "tab", "tags": [], "added": "2023-06-01"}]}
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index))
    data = load_index(str(path))
    names = lambda items: [e["name"] for e in items]  # noqa: E731
    assert names(filter_index(data, hide_tags=["ads"])) == ["Mid", "Zeta"]
    assert names(filter_index(data, sort="a-z")) == ["alpha", "Mid", "Zeta"]
    assert names(filter_index(data, search="STYLE")) == ["Zeta"]
    marked = filter_index(data, hide_tags=[], installed={"https://example.invalid/alpha"}, sort="internal order")
    assert [e["installed"] for e in marked] == [False, True, False]
    assert names(filter_index(data, hide_tags=["installed"], installed={"https://example.invalid/alpha"})) == \
        ["Mid", "Zeta"]
    with pytest.raises(ValueError, match="Could not load the extension index .*local path"):
        load_index("http://127.0.0.1:9/index.json", timeout=2)
    path.write_text("{}")
    with pytest.raises(ValueError, match="extensions"):
        load_index(str(path))


def test_preload_adds_flags_and_a_broken_preload_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_extension(data / "extensions" / "flags", {
        "preload.py": "def preload(parser):\n    parser.add_argument('--my-extension-dir', default='x')\n"})
    write_extension(data / "extensions" / "broken", {"preload.py": "raise ValueError('bad preload')\n"})
    errors: list[str] = []
    argv = ["--data-dir", str(data), "--my-extension-dir", "/models/mine"]
    ns = parse_args(argv, environ={}, extend=lambda p, full: errors.extend(add_extension_flags(p, full, tmp_path)))
    assert ns.my_extension_dir == "/models/mine"
    assert errors == ["preload.py of extension 'broken' failed: ValueError: bad preload"]
    with pytest.raises(SystemExit):
        parse_args([*argv, "--disable-extra-extensions"], environ={},
                   extend=lambda p, full: add_extension_flags(p, full, tmp_path))


def test_the_tab_names_the_flag_under_listen_and_a_broken_tab_is_isolated(tmp_path: Path) -> None:
    from modules.ui.blocks import create_blocks

    write_extension(tmp_path / "data" / "extensions" / "bad-tab", {"scripts/t.py": (
        "from modules import script_callbacks\n"
        "def tabs():\n    raise RuntimeError('no tab today')\n"
        "script_callbacks.on_ui_tabs(tabs)\n")})
    host = make_host(tmp_path / "data", "--listen")
    values = [str(c.get("props", {}).get("value")) for c in create_blocks(host.runtime).get_config_file()["components"]]
    assert any("--enable-insecure-extension-access" in v and "--listen" in v for v in values)
    assert any("Extension 'bad-tab' failed in on_ui_tabs and was skipped: RuntimeError: no tab today" in e
               for e in host.errors)
