"""Batch captioning: the dataset step of a training workflow.

Pictures come from a folder or from uploads; captions go to one `.txt` per picture (same stem, the
layout training tools read), one text file (a caption per line, in file-name order) or a CSV of
file name and caption. Folders typed by a user go through the app's output-folder rule
(modules/storage/output_folders.py: inside the data folder or an `--allowed-output-dir` folder), so
no path from a request reaches the rest of the disk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from modules.jobs.progress import JobControl, JobInterrupted

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
FORMATS: dict[str, str] = {  # UI label -> internal name
    "A .txt file per image": "txt",
    "One text file": "text",
    "CSV (file, caption)": "csv",
}
TEXT_FILE = "captions.txt"
CSV_FILE = "captions.csv"


class BatchPathError(ValueError):
    """A batch folder that does not exist, holds no pictures, or was left empty."""


def folder_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BatchPathError(f"Batch input folder {str(folder)!r} does not exist; enter a folder on the server.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BatchPathError(f"Batch input folder {str(folder)!r} holds no pictures ({', '.join(IMAGE_SUFFIXES)}).")
    return files


@dataclass(frozen=True)
class BatchSpec:
    """One batch run."""

    images: list[Path]
    out_dir: Path
    fmt: str  # "txt" | "text" | "csv"
    prefix: str = ""
    suffix: str = ""
    skip_existing: bool = False


@dataclass
class BatchReport:
    """What a run did; `summary()` is what the UI shows."""

    written: list[Path] = field(default_factory=list)
    captioned: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False

    def summary(self) -> str:
        parts = [f"Captioned {self.captioned} picture(s)"]
        if self.skipped:
            parts.append(f"skipped {self.skipped} that already had a caption")
        if self.failed:
            parts.append(f"could not read {len(self.failed)}: {', '.join(self.failed[:5])}")
        if self.interrupted:
            parts.append("interrupted")
        where = ", ".join(str(p) for p in self.written[:3]) + (" ..." if len(self.written) > 3 else "")
        return "; ".join(parts) + (f". Written: {where}" if self.written else ".")


def _compose(spec: BatchSpec, caption: str) -> str:
    return "".join([spec.prefix, caption, spec.suffix]).strip()


def _existing_csv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
    return {row[0]: row[1] for row in list(rows)[1:] if len(row) >= 2}


def _write_table(spec: BatchSpec, captions: dict[str, str], report: BatchReport) -> None:
    if spec.fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "caption"])
        writer.writerows(sorted(captions.items()))
        path = spec.out_dir / CSV_FILE
        path.write_text(buffer.getvalue(), encoding="utf-8")
    else:
        path = spec.out_dir / TEXT_FILE
        path.write_text("".join(f"{captions[name]}\n" for name in sorted(captions)), encoding="utf-8")
    report.written.append(path)


def run_batch(spec: BatchSpec, caption_of: Callable[[Image.Image], str],
              control: JobControl | None = None) -> BatchReport:
    """Caption every picture of `spec` (progress and interrupt through `control`)."""
    if spec.fmt not in FORMATS.values():
        raise ValueError(f"Unknown batch output '{spec.fmt}'; use one of: {', '.join(FORMATS.values())}.")
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    table = _existing_csv(spec.out_dir / CSV_FILE) if spec.fmt == "csv" and spec.skip_existing else {}
    for i, path in enumerate(spec.images):
        if control is not None:
            control.set_job(i, len(spec.images), 1)
            try:
                control.check()
            except JobInterrupted:
                report.interrupted = True
                break
        target = spec.out_dir / f"{path.stem}.txt"
        if spec.skip_existing and ((spec.fmt == "txt" and target.exists()) or path.name in table):
            report.skipped += 1
            continue
        try:
            with Image.open(path) as img:
                picture = img.convert("RGB")
        except (OSError, UnidentifiedImageError):
            report.failed.append(path.name)
            continue
        text = _compose(spec, caption_of(picture))
        report.captioned += 1
        if spec.fmt == "txt":
            target.write_text(text + "\n", encoding="utf-8")
            report.written.append(target)
        else:
            table[path.name] = text
    if spec.fmt != "txt" and table:
        _write_table(spec, table, report)
    return report
