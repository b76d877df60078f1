"""What the Interrogate tab's buttons do, without gradio (so it is tested directly).

Every action runs on the job queue (never beside a generation on the device) and turns a bad
input or a missing model into a message for the status box next to the fields.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from modules.interrogate.batch import FORMATS, BatchPathError, BatchReport, BatchSpec, folder_images
from modules.interrogate.modes import ANALYZE_TABLES, MODES
from modules.jobs.queue import Job
from modules.ui.progress_view import error_html, notice_html

USER_ERRORS: tuple[type[BaseException], ...] = (LookupError, ValueError, RuntimeError, OSError)
DEEPBOORU_MODE = "deepbooru"  # the tab's extra mode: DeepBooru tags instead of a CLIP prompt
TAB_MODES = (*MODES, DEEPBOORU_MODE)
ANALYZE_TITLES = {"medium": "Medium", "artist": "Artist", "movement": "Movement", "trending": "Trending",
                  "flavor": "Flavor"}


def service(runtime: Any) -> Any:
    return runtime.interrogator


def caption_fn(runtime: Any, mode: str, clip: str | None, caption: str | None) -> Callable[[Image.Image], str]:
    """What turns one picture into text in `mode`: a CLIP mode, or DeepBooru's tags."""
    svc = service(runtime)
    if mode == DEEPBOORU_MODE:
        return lambda image: svc.deepbooru.tag(image)
    return lambda image: svc.prompt(image, clip or None, mode, caption or None)


def run_deepbooru(runtime: Any, image: Image.Image | None) -> tuple[str, str]:
    """(tags, status html) for img2img's "Interrogate DeepBooru" and the DeepBooru mode."""
    if image is None:
        return "", error_html("Drop a picture into the image box first.")
    try:
        text = runtime.queue.run(lambda _c: service(runtime).deepbooru.tag(image), kind="interrogate")
    except USER_ERRORS as err:
        return "", error_html(str(err))
    return text, "" if text else notice_html("No tag scored above the DeepBooru score threshold (Settings).")


def run_prompt(runtime: Any, image: Image.Image | None, mode: str, clip: str | None,
               caption: str | None) -> tuple[str, str]:
    """(prompt, status html)."""
    if mode == DEEPBOORU_MODE:
        return run_deepbooru(runtime, image)
    if image is None:
        return "", error_html("Drop a picture into the image box first.")
    try:
        fn = caption_fn(runtime, mode, clip, caption)
        text = runtime.queue.run(lambda _c: fn(image), kind="interrogate")
    except USER_ERRORS as err:
        return "", error_html(str(err))
    timing = service(runtime).last_timing
    return text, notice_html(timing.describe()) if timing is not None else ""


def parse_labels(text: str) -> list[str]:
    """One label per line; blank lines and duplicates dropped, order kept."""
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


def run_analyze(runtime: Any, image: Image.Image | None, clip: str | None,
                labels_text: str) -> tuple[list[dict[str, float] | None], str]:
    """([medium, artist, movement, trending, flavor, labels] as label->score dicts, status html)."""
    empty: list[dict[str, float] | None] = [None] * (len(ANALYZE_TABLES) + 1)
    if image is None:
        return empty, error_html("Drop a picture into the image box first.")
    labels = parse_labels(labels_text)
    try:
        result = runtime.queue.run(lambda _c: service(runtime).analyze(image, clip or None, labels),
                                   kind="interrogate")
    except USER_ERRORS as err:
        return empty, error_html(str(err))
    panels = [result[key] for key in ANALYZE_TABLES] + [result.get("labels")]
    note = "" if labels else "Add your own labels (one per line) to rank them too."
    return panels, notice_html(note) if note else ""


def confined(runtime: Any, folder: str, what: str) -> Path:
    """`folder` (relative to the data folder, or absolute) inside the folders the server may use."""
    from modules.runtime import allowed_output_dirs
    from modules.storage.output_folders import resolve_output_folder

    return resolve_output_folder(folder.strip(), runtime.paths.data_dir, allowed_output_dirs(runtime.args), what)


def batch_spec(runtime: Any, source: str, folder: str, uploads: Sequence[str] | None, out_folder: str,
               fmt_label: str, prefix: str, suffix: str, skip_existing: bool) -> BatchSpec:
    """The run the Batch form describes; BatchPathError / ValueError name what to fix."""
    if source == "Folder":
        if not (folder or "").strip():
            raise BatchPathError("Enter the input folder (a folder of pictures on the server).")
        in_dir = confined(runtime, folder, "Input folder")
        images = folder_images(in_dir)
        default_out = in_dir
    else:
        images = [Path(p) for p in uploads or []]
        if not images:
            raise BatchPathError("Upload one or more pictures, or choose 'Folder'.")
        default_out = runtime.paths.outputs_dir / "interrogate"
    out_dir = confined(runtime, out_folder, "Output folder") if (out_folder or "").strip() else default_out
    if fmt_label not in FORMATS:
        raise ValueError(f"Unknown output '{fmt_label}'; choose one of: {', '.join(FORMATS)}.")
    return BatchSpec(images, out_dir, FORMATS[fmt_label], prefix or "", suffix or "", bool(skip_existing))


def submit_batch(runtime: Any, spec: BatchSpec, mode: str, clip: str | None, caption: str | None) -> Job:
    """Queue the batch; the job's control carries progress and interrupt."""
    from modules.interrogate.batch import run_batch

    fn = caption_fn(runtime, mode, clip, caption)

    def job(control: Any) -> BatchReport:
        return run_batch(spec, fn, control)

    return runtime.queue.submit(job, kind="interrogate-batch")


def report_html(report: BatchReport) -> str:
    return f"<div class='sdui-notice'>{html.escape(report.summary())}</div>"
