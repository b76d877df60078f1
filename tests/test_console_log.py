"""The console: model loads with timings, one line per job, errors; `--log-level` picks how much;
a taken port gives only the bind error naming the port and --port; a bad checkpoint's message
says once what stays loaded."""

from __future__ import annotations

import io
import logging
import socket
from pathlib import Path

import pytest

from modules.cmd_args import parse_args
from modules.console_log import APP_LOGGER, configure_console_logging
from modules.engine.request import GenerationRequest
from modules.runtime import build_runtime


@pytest.fixture()
def runtime(tmp_path: Path, tiny_sd1: Path):
    rt = build_runtime(parse_args(["--data-dir", str(tmp_path), "--ckpt", str(tiny_sd1), "--no-demo-model",
                                   "--cpu", "--no-hashing", "--log-level", "info"], environ={}))
    yield rt
    rt.shutdown()
    logger = logging.getLogger(APP_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def test_model_load_and_each_job_are_logged_with_timings(runtime) -> None:
    assert runtime.args.loglevel == "INFO"
    console = io.StringIO()
    configure_console_logging(runtime.args.loglevel, console)
    runtime.run(GenerationRequest(prompt="a red circle", seed=1, width=64, height=64, steps=2,
                                  sampler_name="Euler", n_iter=2), timeout=300)
    lines = console.getvalue().splitlines()
    assert any("INFO" in line and "Loading checkpoint tiny-sd1" in line for line in lines), lines
    assert any("Model loaded in" in line and " s: tiny-sd1" in line for line in lines), lines
    job = [line for line in lines if "txt2img 64x64, 2 steps, Euler, 2 images: " in line]
    assert len(job) == 1 and job[0].rstrip().endswith(" s"), lines


def test_log_level_warning_hides_job_lines_but_shows_errors(runtime) -> None:
    console = io.StringIO()
    configure_console_logging("WARNING", console)
    runtime.run(GenerationRequest(prompt="x", width=64, height=64, steps=1), timeout=300)
    assert console.getvalue() == ""
    with pytest.raises(Exception):  # noqa: B017 - any failure; the console line is what is checked
        runtime.run(GenerationRequest(prompt="x", width=64, height=64, steps=1, styles=("no such style",)),
                    timeout=300)
    assert "ERROR" in console.getvalue() and "txt2img 64x64 failed after" in console.getvalue()


def test_a_taken_port_says_only_so_naming_the_port_and_the_flag(tmp_path: Path, capsys) -> None:
    from modules.server import PortInUseError, serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rt = build_runtime(parse_args(["--data-dir", str(tmp_path), "--no-demo-model", "--nowebui",
                                       "--port", str(port)], environ={}))
        try:
            with pytest.raises(PortInUseError) as stopped:
                serve(rt)
        finally:
            rt.shutdown()
    message = str(stopped.value)
    assert f"Port {port}" in message and "already in use" in message and f"--port {port + 1}" in message
    assert "Running on" not in capsys.readouterr().out


def test_a_corrupt_checkpoint_says_once_what_stays_loaded(runtime, tmp_path: Path) -> None:
    from modules.ui.quicksettings import switch_checkpoint

    runtime.run(GenerationRequest(prompt="x", width=64, height=64, steps=1), timeout=300)
    broken = tmp_path / "models" / "Stable-diffusion" / "broken.safetensors"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    runtime.checkpoints.refresh()
    title = next(c.title for c in runtime.checkpoints.list() if c.name.startswith("broken"))
    _, html = switch_checkpoint(runtime, title)
    assert html.count("stays loaded") + html.count("Still using") == 1, html
    assert ".." not in html and "tiny-sd1" in html and html.count("broken.safetensors") == 1, html
