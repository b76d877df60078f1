"""Preprocessors: weight-free maps are right on drawn shapes; annotators load offline or say what is missing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from modules.controlnet.control_image import fit_to_size, pixel_perfect_resolution
from modules.controlnet.preprocessors.annotators import AnnotatorMissingError
from modules.controlnet.preprocessors.registry import PreprocessorRegistry, UnknownPreprocessorError
from modules.controlnet.unit import ResizeMode


def _square(size=256, lo=64, hi=192) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[lo:hi, lo:hi] = 255
    return image


def test_canny_on_a_drawn_square_returns_its_outline(tmp_path):
    edges, call = PreprocessorRegistry(tmp_path).run("canny", _square(), processor_res=256)
    assert (call.threshold_a, call.threshold_b, edges.shape) == (100.0, 200.0, (256, 256, 3))
    on = edges[:, :, 0] > 0
    ys, xs = np.nonzero(on)
    assert ys.min() >= 62 and ys.max() <= 193 and xs.min() >= 62 and xs.max() <= 193
    assert not on[100:150, 100:150].any() and not on[:50].any()  # nothing inside or far outside
    rows = range(70, 186)  # every row of the square has its left and right edge, every column its top and bottom
    assert all(on[y, 62:67].any() and on[y, 189:194].any() for y in rows)
    assert all(on[62:67, x].any() and on[189:194, x].any() for x in rows)


def test_resolution_and_aliases(tmp_path):
    reg = PreprocessorRegistry(tmp_path)
    out, _ = reg.run("invert (from white bg & black line)", _square(200), processor_res=100)
    assert out.shape == (100, 100, 3) and out[0, 0, 0] == 255 and out[50, 50, 0] == 0
    assert reg.canonical("softedge_hed") == "hed" and reg.canonical("t2ia_color_grid") == "color"
    with pytest.raises(UnknownPreprocessorError, match="module_list"):
        reg.get("nope")


@pytest.mark.parametrize("name", ["none", "invert", "canny", "lineart_standard", "blur_gaussian", "threshold",
                                  "binary", "color", "scribble_xdog", "shuffle", "tile_resample",
                                  "recolor_luminance", "recolor_intensity"])
def test_every_weight_free_preprocessor_runs(tmp_path, name):
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 3)
    out, _ = PreprocessorRegistry(tmp_path).run(name, image, processor_res=64)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


def test_missing_annotator_names_file_and_folder(tmp_path):
    with pytest.raises(AnnotatorMissingError) as err:
        PreprocessorRegistry(tmp_path / "annotator").run("softedge_hed", _square())
    assert "ControlNetHED.pth" in str(err.value) and str(tmp_path / "annotator") in str(err.value)


def test_annotator_from_a_pickle_in_the_folder(tmp_path):
    from controlnet_aux.hed import ControlNetHED_Apache2

    torch.manual_seed(0)
    (tmp_path / "hed").mkdir()
    torch.save(ControlNetHED_Apache2().state_dict(), tmp_path / "hed" / "ControlNetHED.pth")
    out, _ = PreprocessorRegistry(tmp_path).run("softedge_hed", _square(128), processor_res=128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8


def test_resize_modes_and_pixel_perfect():
    wide = np.zeros((100, 200, 3), np.uint8)
    wide[:, :100] = 255
    assert fit_to_size(wide, 50, 50, ResizeMode.JUST_RESIZE)[:, :25].min() == 255
    cropped = fit_to_size(wide, 50, 50, ResizeMode.CROP_AND_RESIZE)  # centre crop: half white, half black
    assert cropped.shape == (50, 50, 3) and cropped[:, :20].min() == 255 and cropped[:, 30:].max() == 0
    filled = fit_to_size(wide, 50, 50, ResizeMode.RESIZE_AND_FILL)  # fit inside, pad top and bottom
    assert filled.shape == (50, 50, 3) and filled[20:30, :20].min() == 255
    assert pixel_perfect_resolution((100, 200), (512, 512), ResizeMode.CROP_AND_RESIZE) == 512
    assert pixel_perfect_resolution((100, 200), (512, 512), ResizeMode.RESIZE_AND_FILL) == 256


@pytest.mark.slow  # writes and reads ~350 MB of random OpenPose weights
def test_openpose_from_pickles_in_the_extension_layout(tmp_path):
    from controlnet_aux.open_pose.body import bodypose_model
    from controlnet_aux.open_pose.hand import handpose_model

    torch.manual_seed(0)
    (tmp_path / "openpose").mkdir()
    # The released files name weights without the network's first level (util.transfer adds it back).
    for net, name in ((bodypose_model(), "body_pose_model.pth"), (handpose_model(), "hand_pose_model.pth")):
        torch.save({k.split(".", 1)[1]: v for k, v in net.state_dict().items()}, tmp_path / "openpose" / name)
    reg = PreprocessorRegistry(tmp_path)
    for name in ("openpose", "openpose_hand"):
        out, _ = reg.run(name, _square(128), processor_res=128)
        assert out.shape == (128, 128, 3) and out.dtype == np.uint8
