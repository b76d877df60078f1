"""Command-line flags with A1111's names and meanings (reference §2).

Flags also come from the `COMMANDLINE_ARGS` environment variable, appended to argv as A1111
does. An unknown flag exits with status 2 and names the flag (argparse's own behaviour).
Flags whose feature lands in a later issue still parse and reach the Runtime, so scripts
written for A1111 start unchanged.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable, Sequence
from typing import Any

USE_CPU_CHOICES = ("all", "sd", "interrogate", "gfpgan", "esrgan", "codeformer")


def _add_launcher(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("launcher")
    g.add_argument("-f", action="store_true", help=argparse.SUPPRESS)
    g.add_argument("--skip-install", action="store_true", help="do not pip-install requirements")
    g.add_argument("--skip-prepare-environment", action="store_true", help="skip all installation steps")
    g.add_argument("--skip-python-version-check", action="store_true")
    g.add_argument("--skip-torch-cuda-test", action="store_true")
    g.add_argument("--reinstall-torch", action="store_true")
    g.add_argument("--reinstall-xformers", action="store_true")
    g.add_argument("--update-all-extensions", action="store_true")
    g.add_argument("--update-check", action="store_true")
    g.add_argument("--log-startup", action="store_true")
    g.add_argument("--dump-sysinfo", action="store_true")
    g.add_argument("--loglevel", "--log-level", dest="loglevel", default=None, type=str.upper,
                   choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
                   help="console messages shown: INFO (default) logs model loads and every job")
    g.add_argument("--test-server", action="store_true")


def _add_paths(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("paths and models")
    g.add_argument("--data-dir", default=None, help="base folder for all user data")
    g.add_argument("--models-dir", default=None, help="base folder for models (default <data-dir>/models)")
    g.add_argument("--config", default=None, help="model yaml used when detection has no better choice")
    g.add_argument("--ckpt", default=None, help="checkpoint to add to the list and load")
    g.add_argument("--ckpt-dir", default=None, help="extra checkpoint folder")
    g.add_argument("--vae-dir", default=None)
    g.add_argument("--vae-path", default=None)
    g.add_argument("--lora-dir", default=None)
    g.add_argument("--embeddings-dir", default=None)
    g.add_argument("--hypernetwork-dir", default=None)
    g.add_argument("--controlnet-dir", default=None,
                   help="extra ControlNet model folder (models/ControlNet is always read)")
    g.add_argument("--controlnet-annotator-models-path", default=None,
                   help="folder of ControlNet preprocessor weights (default: models/annotator)")
    g.add_argument("--esrgan-models-path", default=None, help="folder of ESRGAN upscalers (default models/ESRGAN)")
    g.add_argument("--realesrgan-models-path", default=None, help="folder of Real-ESRGAN upscalers")
    g.add_argument("--dat-models-path", default=None, help="folder of DAT upscalers")
    g.add_argument("--swinir-models-path", default=None, help="folder of SwinIR upscalers")
    g.add_argument("--hat-models-path", default=None, help="folder of HAT upscalers")
    g.add_argument("--gfpgan-models-path", default=None, help="folder of GFPGAN face restorers")
    g.add_argument("--codeformer-models-path", default=None, help="folder of CodeFormer face restorers")
    g.add_argument("--clip-models-path", default=None, help="folder of CLIP models for Interrogate "
                   "(default <models dir>/CLIP)")
    g.add_argument("--styles-file", action="append", default=None)
    g.add_argument("--ui-config-file", default=None)
    g.add_argument("--ui-settings-file", default=None)
    g.add_argument("--no-download-sd-model", action="store_true", help="never download a model (we never do anyway)")
    g.add_argument("--no-hashing", action="store_true", help="do not compute sha256 of checkpoints")
    g.add_argument("--disable-safe-unpickle", action="store_true", help="refused: pickles always load safely")
    g.add_argument("--no-demo-model", action="store_true", help="hide the built-in demo model")
    g.add_argument("--do-not-download-clip", action="store_true")
    g.add_argument("--lowram", action="store_true")


def _add_performance(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("precision and memory")
    g.add_argument("--cpu", action="store_true", help="run everything on the CPU (short for --use-cpu all)")
    g.add_argument("--use-cpu", nargs="+", default=[], type=str.lower, help=f"modules on CPU: {USE_CPU_CHOICES}")
    g.add_argument("--device-id", default=None)
    g.add_argument("--no-half", action="store_true")
    g.add_argument("--no-half-vae", action="store_true")
    g.add_argument("--precision", choices=["full", "half", "autocast"], default="autocast")
    g.add_argument("--upcast-sampling", action="store_true")
    g.add_argument("--medvram", action="store_true")
    g.add_argument("--medvram-sdxl", action="store_true")
    g.add_argument("--lowvram", action="store_true")
    g.add_argument("--xformers", action="store_true")
    g.add_argument("--force-enable-xformers", action="store_true")
    g.add_argument("--opt-sdp-attention", action="store_true")
    g.add_argument("--opt-sdp-no-mem-attention", action="store_true")
    g.add_argument("--opt-split-attention", action="store_true")
    g.add_argument("--opt-sub-quad-attention", action="store_true")
    g.add_argument("--disable-opt-split-attention", action="store_true")
    g.add_argument("--opt-channelslast", action="store_true")
    g.add_argument("--disable-nan-check", action="store_true")


def _add_server(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server, network and auth")
    g.add_argument("--listen", action="store_true", help="bind 0.0.0.0 (LAN)")
    g.add_argument("--server-name", default=None)
    g.add_argument("--port", type=int, default=None, help="default 7860 (7861 with --nowebui)")
    g.add_argument("--share", action="store_true", help="refused: no public tunnels")
    g.add_argument("--api", action="store_true", help="mount /sdapi/v1 on the UI server")
    g.add_argument("--nowebui", action="store_true", help="serve only the API")
    g.add_argument("--api-auth", default=None, help='"user:pass,user2:pass2"')
    g.add_argument("--api-log", action="store_true")
    g.add_argument("--api-server-stop", action="store_true")
    g.add_argument("--cors-allow-origins", default=None)
    g.add_argument("--cors-allow-origins-regex", default=None)
    g.add_argument("--tls-keyfile", default=None)
    g.add_argument("--tls-certfile", default=None)
    g.add_argument("--subpath", default=None)
    g.add_argument("--timeout-keep-alive", type=int, default=30)
    g.add_argument("--gradio-auth", default=None, help='"user:pass,user2:pass2"')
    g.add_argument("--gradio-auth-path", default=None)
    g.add_argument("--gradio-allowed-path", action="append", default=[])
    g.add_argument("--no-gradio-queue", action="store_true")
    g.add_argument("--autolaunch", action="store_true")
    g.add_argument("--enable-insecure-extension-access", action="store_true")
    g.add_argument("--allow-code", action="store_true")


def _add_ui(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ui and behaviour")
    g.add_argument("--theme", choices=["light", "dark"], default=None)
    g.add_argument("--hide-ui-dir-config", action="store_true")
    g.add_argument("--freeze-settings", action="store_true")
    g.add_argument("--use-textbox-seed", action="store_true")
    g.add_argument("--disable-console-progressbars", action="store_true")
    g.add_argument("--ui-debug-mode", action="store_true")
    g.add_argument("--disable-all-extensions", action="store_true")
    g.add_argument("--disable-extra-extensions", action="store_true")
    g.add_argument("--skip-load-model-at-start", action="store_true")
    g.add_argument("--unix-filenames-sanitization", action="store_true")
    g.add_argument("--filenames-max-length", type=int, default=128)
    g.add_argument("--no-prompt-history", action="store_true")


def _add_limits(p: argparse.ArgumentParser) -> None:
    """Our additions (docs/SECURITY.md): where files may go and how much one client may ask for."""
    g = p.add_argument_group("security limits")
    g.add_argument("--allowed-output-dir", action="append", default=[], metavar="DIR",
                   help="also allow output folders (outdir_* settings) inside DIR; by default only "
                        "folders inside the data folder are accepted")
    g.add_argument("--max-request-mb", type=float, default=256.0,
                   help="largest HTTP request body in MB (base64 images included); bigger ones get 413")
    g.add_argument("--queue-per-client", type=int, default=32,
                   help="most jobs one client (IP address) may have waiting at once; more get 429")


def build_parser() -> argparse.ArgumentParser:
    """The full parser; extensions' preload hooks may add flags to it before parsing."""
    p = argparse.ArgumentParser(prog="launch.py", description="Stable Diffusion web UI")
    for add in (_add_launcher, _add_paths, _add_performance, _add_server, _add_ui, _add_limits):
        add(p)
    return p


def argv_with_env(argv: Sequence[str], environ: dict[str, str] | None = None) -> list[str]:
    """argv plus `COMMANDLINE_ARGS` from the environment, as A1111 appends it."""
    env = os.environ if environ is None else environ
    return list(argv) + shlex.split(env.get("COMMANDLINE_ARGS", ""))


def parse_args(argv: Sequence[str], environ: dict[str, str] | None = None,
               extend: Callable[[argparse.ArgumentParser, list[str]], Any] | None = None) -> argparse.Namespace:
    """Parse flags; exits with status 2 naming any unknown flag. `extend(parser, argv)` adds flags
    first (extensions' preload.py, called by launch.py)."""
    parser = build_parser()
    full = argv_with_env(argv, environ)
    if extend is not None:
        extend(parser, full)
    ns = parser.parse_args(full)
    bad = [c for c in ns.use_cpu if c not in USE_CPU_CHOICES]
    if bad:
        parser.error(f"--use-cpu: unknown module(s) {bad}; choose from {', '.join(USE_CPU_CHOICES)}")
    if ns.cpu and "all" not in ns.use_cpu:
        ns.use_cpu = [*ns.use_cpu, "all"]
    if ns.share:
        parser.error("--share is not supported: this app never opens a public tunnel; use --listen on your LAN")
    if ns.disable_safe_unpickle:
        parser.error("--disable-safe-unpickle is refused: .ckpt files always load through the safe unpickler")
    if ns.precision == "half" and (ns.no_half or ns.no_half_vae):
        parser.error("--precision half conflicts with --no-half/--no-half-vae")
    if ns.port is None:
        ns.port = 7861 if ns.nowebui else 7860
    return ns


def server_host(ns: argparse.Namespace) -> str:
    """The bind address: --server-name wins, then --listen, else loopback."""
    if ns.server_name:
        return ns.server_name
    return "0.0.0.0" if ns.listen else "127.0.0.1"


def extension_access_allowed(ns: argparse.Namespace) -> bool:
    """Installing extensions is refused when the server is reachable from others (A1111 rule)."""
    exposed = ns.listen or bool(ns.server_name) or ns.share
    return ns.enable_insecure_extension_access or not exposed
