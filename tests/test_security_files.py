"""Files land only inside their folders, broken checkpoints are a 4xx and the default falls
back for real, finished jobs keep no inputs (each test failed before the fix)."""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from pathlib import Path

import pytest
from PIL import Image

from modules.images.filenames import FilenameContext
from modules.images.saving import SaveOptions, remove_stale_temps, save_image
from modules.jobs.queue import JobQueue
from modules.storage.output_folders import OutsideDataFolderError, resolve_output_folder
from tests.test_api_harness import start_live_server


@pytest.mark.parametrize("pattern", ["/srv/victim", "../../../../srv/x", "a/../../b", "..\\..\\x"])
def test_filename_patterns_cannot_leave_the_folder(tmp_path: Path, pattern: str) -> None:
    out = tmp_path / "out"
    options = SaveOptions(samples_filename_pattern=pattern, save_images_add_number=False, save_to_dirs=False,
                          save_txt=True)
    path, txt = save_image(Image.new("RGB", (8, 8)), out, "", seed=1, info="x", options=options,
                           context=FilenameContext(prompt="p"))
    assert Path(path).parent == out and Path(txt).parent == out
    assert [p.parent for p in tmp_path.rglob("*") if p.is_file()] == [out, out]


def test_prompt_with_dots_and_slashes_stays_inside(tmp_path: Path) -> None:
    options = SaveOptions(samples_filename_pattern="[prompt_spaces]-[prompt]", directories_filename_pattern="[prompt]")
    path, _ = save_image(Image.new("RGB", (8, 8)), tmp_path / "out", "", seed=1, options=options,
                         context=FilenameContext(prompt="../../../../etc/passwd"))
    assert (tmp_path / "out") in Path(path).parents


def test_output_folders_resolve_inside_the_data_folder(tmp_path: Path) -> None:
    assert resolve_output_folder("outputs/x", tmp_path) == tmp_path / "outputs" / "x"
    for bad in ("/srv", "../x", "outputs/../../x", "~/x"):
        with pytest.raises(OutsideDataFolderError, match="--allowed-output-dir"):
            resolve_output_folder(bad, tmp_path)
    assert resolve_output_folder("/srv/pics", tmp_path, [Path("/srv")]) == Path("/srv/pics")


def test_stale_image_temps_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / "2024-01-01").mkdir()
    stale = tmp_path / "2024-01-01" / ".a1b2c3.tmp"
    stale.write_bytes(b"\x89PNG half")
    keep = tmp_path / "2024-01-01" / "00001-1.png"
    keep.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 1 and not stale.exists() and keep.exists()


def test_finished_jobs_do_not_keep_their_inputs() -> None:
    queue = JobQueue()

    class Big:
        pass

    big = Big()
    ref = weakref.ref(big)
    job = queue.submit(lambda control, held=big: None, kind="img2img")
    del big
    job.wait(10)
    gc.collect()
    assert ref() is None and queue.get(job.task_id) is job
    queue.stop()


def test_unloadable_first_checkpoint_falls_back_and_explicit_one_is_422(tmp_path: Path, tiny_sd1: Path) -> None:
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    (folder / "aaa-broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}  ")
    shutil.copy(tiny_sd1, folder / "zz-tiny.safetensors")
    shutil.copy(tiny_sd1.with_suffix(".yaml"), folder / "zz-tiny.yaml")
    server = start_live_server(tmp_path, "--nowebui", "--no-hashing")
    small = {"width": 64, "height": 64, "steps": 1, "prompt": "a"}
    try:
        with server.client() as c:
            r = c.post("/sdapi/v1/txt2img", json=small)
            assert r.status_code == 200, r.text
            assert "Model: zz-tiny" in json.loads(r.json()["info"])["infotexts"][0]
            r = c.post("/sdapi/v1/txt2img", json={**small, "override_settings": {
                "sd_model_checkpoint": "aaa-broken.safetensors"}})
            assert r.status_code == 422 and "aaa-broken" in r.json()["detail"]
            assert str(tmp_path) not in r.text and "Traceback" not in r.text
    finally:
        server.stop()
