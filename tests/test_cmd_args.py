"""Flags: A1111 names, COMMANDLINE_ARGS, unknown flags exit 2 naming the flag."""

import subprocess
import sys
from pathlib import Path

import pytest

from modules.cmd_args import extension_access_allowed, parse_args, server_host
from modules.paths import paths_from_args

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_and_ports():
    ns = parse_args([], environ={})
    assert ns.port == 7860 and server_host(ns) == "127.0.0.1"
    assert parse_args(["--nowebui"], environ={}).port == 7861
    assert parse_args(["--nowebui", "--port", "9000"], environ={}).port == 9000


def test_commandline_args_env_is_appended():
    ns = parse_args(["--api"], environ={"COMMANDLINE_ARGS": "--listen --lowvram --use-cpu all"})
    assert ns.api and ns.listen and ns.lowvram and ns.use_cpu == ["all"]
    assert server_host(ns) == "0.0.0.0"


def test_cpu_short_form_means_use_cpu_all():
    assert parse_args(["--cpu"], environ={}).use_cpu == ["all"]


@pytest.mark.parametrize("flags", [
    ["--listen", "--port", "7000", "--server-name", "box", "--api", "--nowebui", "--cpu", "--use-cpu", "sd",
     "--lowvram", "--medvram", "--no-half", "--no-half-vae", "--precision", "full", "--ckpt", "x.safetensors",
     "--ckpt-dir", "d", "--vae-dir", "v", "--lora-dir", "l", "--embeddings-dir", "e", "--data-dir", "dd",
     "--models-dir", "md", "--gradio-auth", "a:b", "--api-auth", "c:d", "--enable-insecure-extension-access",
     "--skip-install", "--no-download-sd-model", "--no-hashing", "--theme", "dark", "--autolaunch"],
])
def test_every_issue_flag_parses(flags):
    ns = parse_args(flags, environ={})
    assert ns.theme == "dark" and ns.gradio_auth == "a:b" and ns.api_auth == "c:d" and ns.no_hashing


def test_extension_access_rule():
    assert extension_access_allowed(parse_args([], environ={}))
    assert not extension_access_allowed(parse_args(["--listen"], environ={}))
    assert extension_access_allowed(parse_args(["--listen", "--enable-insecure-extension-access"], environ={}))


def test_unknown_flag_exits_2_and_names_it():
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--skip-install", "--frobnicate"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 2
    assert "--frobnicate" in proc.stderr


def test_paths_follow_data_and_models_dirs(tmp_path):
    ns = parse_args(["--data-dir", str(tmp_path / "data"), "--models-dir", str(tmp_path / "m"),
                     "--ckpt-dir", str(tmp_path / "extra")], environ={})
    p = paths_from_args(ns)
    assert p.stable_diffusion_dir == tmp_path / "m" / "Stable-diffusion"
    assert p.ckpt_dirs[1] == tmp_path / "extra"
    assert p.outputs_dir == tmp_path / "data" / "outputs"
    assert p.settings_file == tmp_path / "data" / "config.json"
    assert p.configs_dir == ROOT / "configs"
