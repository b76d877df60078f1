"""The progress bar's HTML: queue position while waiting, then percent, step, batch and ETA.

Pure formatting (no gradio), so the wording users read is tested without a browser.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from modules.jobs.progress import ProgressSnapshot


def format_eta(seconds: float) -> str:
    """`4s`, `1m 05s`, `1h 02m`: short enough to sit inside the bar."""
    total = max(int(round(seconds)), 0)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _bar(fraction: float, text: str, state: str) -> str:
    pct = max(0.0, min(fraction, 1.0)) * 100
    return (f'<div class="sdui-progress" data-state="{state}">'
            f'<div class="sdui-progress-bar" style="width:{pct:.1f}%"></div>'
            f'<span class="sdui-progress-text">{html.escape(text)}</span></div>')


def queued_html(position: int, queue_length: int) -> str:
    """Shown while other jobs (from any browser tab or API client) run first."""
    return _bar(0.0, f"In queue: {position}/{max(queue_length, position)}", "queued")


def running_text(snap: ProgressSnapshot, now: float | None = None) -> str:
    parts = [f"{int(snap.fraction * 100)}%"]
    if snap.job_count > 1:
        parts.append(f"Batch {min(snap.job_no + 1, snap.job_count)}/{snap.job_count}")
    if snap.sampling_steps > 0:
        parts.append(f"Step {snap.sampling_step}/{snap.sampling_steps}")
    if snap.textinfo:
        parts.append(snap.textinfo)
    eta = snap.eta(now)
    if eta > 0:
        parts.append(f"ETA {format_eta(eta)}")
    if snap.interrupted:
        parts.append("Interrupting…")
    elif snap.skipped:
        parts.append("Skipping…")
    return " · ".join(parts)


def running_html(snap: ProgressSnapshot, now: float | None = None) -> str:
    return _bar(snap.fraction, running_text(snap, now), "running")


def starting_html() -> str:
    return _bar(0.0, "Starting…", "starting")


def error_html(message: str) -> str:
    """A visible error in the output panel (never a crashed handler)."""
    return f'<div class="sdui-error" role="alert">{html.escape(message)}</div>'


def notice_html(message: str) -> str:
    return f'<div class="sdui-notice">{html.escape(message)}</div>'


def preview_html(image: Any) -> str:
    """The live preview as an inline PNG; style.css scales it (smoothly) to fill the result area,
    since a preview decoded from latents is 1/8 of the picture's size (8x8 for a 64x64 image)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="sdui-preview-image" alt="Live preview" src="data:image/png;base64,{data}">'
