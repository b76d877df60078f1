"""The Interrogate tab and img2img buttons: page ids and the actions behind the buttons, on a real
Runtime whose data folder holds tiny CLIP/BLIP models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from modules.cmd_args import parse_args
from modules.interrogate.batch import BatchPathError
from modules.runtime import build_runtime
from modules.storage.output_folders import OutsideDataFolderError
from modules.ui import interrogate_actions as act
from tests.fixtures.tiny_deepbooru import write_tiny_deepbooru
from tests.fixtures.tiny_interrogate import short_term_lists, write_tiny_blip, write_tiny_clip

CLIP = "tiny-vit/random"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data = tmp_path_factory.mktemp("interrogate-ui")
    write_tiny_clip(data / "models" / "CLIP")
    write_tiny_blip(data / "models" / "BLIP" / "tiny-blip")
    write_tiny_deepbooru(data / "models" / "torch_deepdanbooru")
    rt = build_runtime(parse_args(["--data-dir", str(data), "--no-demo-model", "--no-hashing"], environ={}))
    rt.interrogator.term_lists = short_term_lists(data / "lists")
    yield rt
    rt.shutdown()


def test_page_has_the_tab_sub_tabs_and_img2img_buttons(runtime: Any) -> None:
    from modules.ui.blocks import create_blocks

    demo = create_blocks(runtime)
    ids = {c["props"].get("elem_id") for c in demo.config["components"]}
    for elem in ("tab_interrogate", "interrogate_image", "interrogate_mode", "interrogate_clip_model",
                 "interrogate_caption_model", "interrogate_generate", "interrogate_unload", "interrogate_prompt",
                 "interrogate_send_txt2img", "interrogate_send_img2img", "analyze_image", "analyze_labels",
                 "analyze_medium", "analyze_artist", "analyze_movement", "analyze_trending", "analyze_flavor",
                 "analyze_user_labels", "batch_folder", "batch_uploads", "batch_format", "batch_start",
                 "batch_interrupt", "batch_progress", "interrogate", "deepbooru"):
        assert elem in ids, elem
    clip_box = next(c for c in demo.config["components"] if c["props"].get("elem_id") == "interrogate_clip_model")
    assert [ch[0] for ch in clip_box["props"]["choices"]] == [CLIP] and clip_box["props"]["value"] == CLIP


def test_prompt_action_fills_text_and_reports_problems(runtime: Any) -> None:
    picture = Image.new("RGB", (64, 64), (30, 170, 50))
    text, status = act.run_prompt(runtime, picture, "fast", CLIP, "tiny-blip")
    assert text and "term embeddings" in status
    text, status = act.run_prompt(runtime, None, "fast", CLIP, None)
    assert text == "" and "Drop a picture" in status
    text, status = act.run_prompt(runtime, picture, "fast", "ViT-L-14/openai", None)
    assert text == "" and "ViT-L-14/openai" in status and CLIP in status


def test_analyze_action_gives_six_panels(runtime: Any) -> None:
    picture = Image.new("RGB", (64, 64), (30, 170, 50))
    panels, status = act.run_analyze(runtime, picture, CLIP, "green\n\nred\ngreen\n")
    assert len(panels) == 6 and all(len(p) == 5 for p in panels[:5])
    assert set(panels[5]) == {"green", "red"} and status == ""
    panels, status = act.run_analyze(runtime, picture, CLIP, "")
    assert panels[5] is None and "labels" in status


def test_batch_from_a_folder_inside_the_data_folder(runtime: Any) -> None:
    folder = runtime.paths.data_dir / "dataset"
    folder.mkdir(exist_ok=True)
    for i, rgb in enumerate([(220, 30, 30), (30, 60, 220)]):
        Image.new("RGB", (64, 64), rgb).save(folder / f"{i}.png")
    spec = act.batch_spec(runtime, "Folder", "dataset", None, "", "CSV (file, caption)", "", "", True)
    report = act.submit_batch(runtime, spec, "caption", CLIP, "tiny-blip").wait(120)
    assert report.captioned == 2 and (folder / "captions.csv").is_file()
    assert "Captioned 2" in act.report_html(report)


def test_batch_refuses_folders_outside_and_empty_input(runtime: Any, tmp_path: Path) -> None:
    (runtime.paths.data_dir / "dataset").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(runtime.paths.data_dir / "dataset" / "x.png")
    for folder, out in ((str(tmp_path), ""), ("../", ""), ("dataset/../../", ""), ("dataset", "/tmp"),
                        ("dataset", "../elsewhere")):
        with pytest.raises(OutsideDataFolderError, match="outside the data folder"):
            act.batch_spec(runtime, "Folder", folder, None, out, "One text file", "", "", False)
    with pytest.raises(BatchPathError, match="Upload"):
        act.batch_spec(runtime, "Upload", "", [], "", "One text file", "", "", False)


TAGS = r"1girl, back\\slash, blue sky, hat \(object\), long hair, smile"


def _click_fn(demo: Any, elem_id: str) -> tuple[Any, list[str], list[str]]:
    """The function behind a button's click, with the elem_ids of its inputs and outputs."""
    config = demo.config
    ids = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    dep = next(d for d in config["dependencies"]
               if any(ids.get(t) == elem_id and e == "click" for t, e in d["targets"]))
    return demo.fns[dep["id"]].fn, [ids[i] for i in dep["inputs"]], [ids[i] for i in dep["outputs"]]


def test_img2img_deepbooru_button_fills_the_prompt(runtime: Any) -> None:
    from modules.ui.blocks import create_blocks

    fn, inputs, outputs = _click_fn(create_blocks(runtime), "deepbooru")
    assert inputs[1] == outputs[0] == "img2img_prompt"
    picture = Image.new("RGB", (96, 64), (200, 180, 160))
    assert fn(picture, "old prompt") == (TAGS, "")
    text, status = fn(None, "old prompt")
    assert text == "old prompt" and "Drop a picture" in status


def test_deepbooru_mode_in_prompt_and_batch(runtime: Any) -> None:
    picture = Image.new("RGB", (64, 64), (30, 170, 50))
    assert act.run_prompt(runtime, picture, act.DEEPBOORU_MODE, CLIP, None) == (TAGS, "")
    folder = runtime.paths.data_dir / "booru-set"
    folder.mkdir(exist_ok=True)
    for i in range(2):
        Image.new("RGB", (64, 48), (40 * i, 90, 200)).save(folder / f"{i}.png")
    spec = act.batch_spec(runtime, "Folder", "booru-set", None, "", "A .txt file per image", "", ", extra", False)
    report = act.submit_batch(runtime, spec, act.DEEPBOORU_MODE, None, None).wait(120)
    assert report.captioned == 2
    assert (folder / "0.txt").read_text(encoding="utf-8") == TAGS + ", extra\n"


def test_deepbooru_without_the_model_says_what_to_install(runtime: Any) -> None:
    folder = runtime.paths.models_dir / "torch_deepdanbooru"
    moved = folder.with_name("torch_deepdanbooru-away")
    folder.rename(moved)
    try:
        assert not act.service(runtime).deepbooru.installed()
        text, status = act.run_deepbooru(runtime, Image.new("RGB", (32, 32)))
        assert text == "" and "model-resnet_custom_v3.pt" in status and "torch_deepdanbooru" in status
    finally:
        moved.rename(folder)
    assert act.service(runtime).deepbooru.installed()
