"""What the console says while the app runs, at `--loglevel` / `--log-level` (INFO by default):
model loads and switches with their timings, one line per finished job (mode, size, steps,
sampler, seconds), and every warning and error of the app's own loggers (`modules.*`).

Third-party libraries keep their own (quieter) levels, so INFO stays a few lines per job.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

APP_LOGGER = "modules"
FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
DATE_FORMAT = "%H:%M:%S"
HANDLER_NAME = "sdui-console"


def configure_console_logging(level: str | None, stream: TextIO | None = None) -> logging.Logger:
    """Send the app's log records at `level` or above to the console (stderr); idempotent."""
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(getattr(logging, (level or "INFO").upper(), logging.INFO))
    for handler in list(logger.handlers):
        if handler.get_name() == HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def job_summary(req: Any, result: Any, seconds: float) -> str:
    """`txt2img 64x64, 20 steps, Euler, 2 images: 1.8 s` (A1111 prints a progress line per job);
    the grid is not counted as an image."""
    images = len(getattr(result, "images", []) or []) - int(getattr(result, "index_of_first_image", 0) or 0)
    count = f"{images} image{'s' if images != 1 else ''}"
    note = ", interrupted" if getattr(result, "interrupted", False) else ""
    sampler = req.sampler_name + (f" {req.scheduler}" if req.scheduler and req.scheduler != "Automatic" else "")
    return (f"{req.mode} {req.width}x{req.height}, {req.steps} steps, {sampler}, {count}{note}: "
            f"{seconds:.1f} s")
