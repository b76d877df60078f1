"""Batch captioning: each output format, prefix/suffix, skip existing, interrupt, allowed folders."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image

from modules.hashing import sha256_file
from modules.interrogate.batch import BatchSpec, folder_images, run_batch
from modules.interrogate.folders import InterrogateFolders
from modules.interrogate.placement import ModelPlacement
from modules.interrogate.service import InterrogateService
from modules.jobs.progress import JobControl
from tests.fixtures.tiny_interrogate import short_term_lists, write_tiny_blip, write_tiny_clip

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 60, 220)}


@pytest.fixture(scope="module")
def caption_of(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a callable
    root = tmp_path_factory.mktemp("batch-models")
    write_tiny_clip(root / "CLIP")
    write_tiny_blip(root / "BLIP" / "tiny-blip")
    folders = InterrogateFolders(clip_dir=root / "CLIP", caption_dir=root / "BLIP", demo_root=None)
    service = InterrogateService(folders, root / "cache", ModelPlacement(torch.device("cpu")),
                                 lambda _n, p: sha256_file(p))
    service.term_lists = short_term_lists(root / "lists")  # batching is under test, not the full term tables
    return lambda image: service.prompt(image, None, "caption", None)


@pytest.fixture()
def pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "pictures"
    folder.mkdir(parents=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (64, 64), rgb).save(folder / f"{name}.png")
    (folder / "notes.md").write_text("not a picture")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_txt_per_image_with_prefix_suffix_and_skip_existing(pictures: Path, caption_of) -> None:  # noqa: ANN001
    images = folder_images(pictures)
    assert [p.name for p in images] == ["blue.png", "broken.jpg", "green.png", "red.png"]
    (pictures / "green.txt").write_text("kept\n")
    report = run_batch(BatchSpec(images, pictures, "txt", "photo of ", ", dataset", skip_existing=True), caption_of)
    assert report.captioned == 2 and report.skipped == 1 and report.failed == ["broken.jpg"]
    assert (pictures / "green.txt").read_text() == "kept\n"
    red = (pictures / "red.txt").read_text()
    expected = caption_of(Image.new("RGB", (64, 64), COLOURS["red"]))
    assert red == f"photo of {expected}, dataset\n"
    assert "Captioned 2" in report.summary() and "broken.jpg" in report.summary()


def test_one_text_file_and_csv(pictures: Path, tmp_path: Path, caption_of) -> None:  # noqa: ANN001
    images = [p for p in folder_images(pictures) if p.suffix == ".png"]
    out = tmp_path / "out"
    run_batch(BatchSpec(images, out, "text"), caption_of)
    lines = (out / "captions.txt").read_text().splitlines()
    assert lines == [caption_of(Image.new("RGB", (64, 64), COLOURS[n])) for n in ("blue", "green", "red")]
    report = run_batch(BatchSpec(images[:2], out, "csv"), caption_of)
    rows = list(csv.reader((out / "captions.csv").open(encoding="utf-8")))
    assert rows[0] == ["file", "caption"] and [r[0] for r in rows[1:]] == ["blue.png", "green.png"]
    assert rows[1][1] == lines[0]
    again = run_batch(BatchSpec(images, out, "csv", skip_existing=True), caption_of)
    assert again.skipped == 2 and again.captioned == 1 and report.written == [out / "captions.csv"]
    assert [r[0] for r in csv.reader((out / "captions.csv").open())][1:] == ["blue.png", "green.png", "red.png"]


def test_interrupt_stops_between_pictures(pictures: Path, caption_of) -> None:  # noqa: ANN001
    control = JobControl()

    def caption_then_interrupt(image: Image.Image) -> str:
        control.interrupt()
        return caption_of(image)

    images = [p for p in folder_images(pictures) if p.suffix == ".png"]
    report = run_batch(BatchSpec(images, pictures, "txt"), caption_then_interrupt, control)
    assert report.interrupted and report.captioned == 1
    assert sorted(p.name for p in pictures.glob("*.txt")) == ["blue.txt"]
    assert control.snapshot().job_count == 3
