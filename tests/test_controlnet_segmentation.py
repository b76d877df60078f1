"""Segmentation preprocessors (OneFormer ADE20K/COCO, UperNet, SegFormer) read from transformers
folders in the annotator folder, with the network blocked throughout (sockets, name lookups,
torch.hub, every Hugging Face hub download entry point).

The networks are tiny random-weight builds of the real architectures, saved in the layout the app
reads (tests/fixtures/tiny_segmentation.py) and loaded through the app's own code.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modules.api.controlnet_routes import DetectBody, detect
from modules.api.errors import ApiError
from modules.controlnet.preprocessors.annotators import AnnotatorLoadError, AnnotatorMissingError
from modules.controlnet.preprocessors.registry import PreprocessorRegistry, UnknownPreprocessorError
from modules.controlnet.preprocessors.seg_palettes import ade20k_palette, coco_panoptic_palette, colorize
from modules.controlnet.service import ControlNetService
from tests.fixtures import tiny_segmentation as tiny
from tests.fixtures.offline import block_network


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    block_network(monkeypatch)


# module -> (builder, where in the annotator folder, palette)
NETWORKS: dict[str, tuple[Callable[..., Path], str, Callable[[], np.ndarray]]] = {
    "seg_ofade20k": (tiny.write_oneformer, "oneformer/oneformer_ade20k_swin_large", ade20k_palette),
    "seg_ofcoco": (tiny.write_oneformer, "oneformer_coco_swin_large", coco_panoptic_palette),
    "seg_upernet_ade20k": (tiny.write_upernet, "upernet/upernet-convnext-small", ade20k_palette),
    "seg_segformer_ade20k": (tiny.write_segformer, "segformer-b0-finetuned-ade-512-512", ade20k_palette),
}


@pytest.fixture(scope="module")
def random_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One annotator folder with every network in random weights (both the direct and the subfolder layout)."""
    root = tmp_path_factory.mktemp("seg-annotators")
    for builder, where, palette in NETWORKS.values():
        builder(root / where, num_labels=len(palette()))
    return root


def _photo(h: int = 96, w: int = 136) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    image[(yy - h // 2) ** 2 + (xx - w // 3) ** 2 < (h // 4) ** 2] = 240
    return image


def _colours(image: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in image.reshape(-1, 3)}


def _palette_set(palette: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in palette}


@pytest.mark.parametrize("module", list(NETWORKS))
def test_each_network_paints_a_palette_map_at_the_processor_resolution(random_root: Path, module: str) -> None:
    palette = NETWORKS[module][2]()
    reg = PreprocessorRegistry(random_root)
    out, call = reg.run(module, _photo(), processor_res=64)
    assert out.dtype == np.uint8 and out.shape == (64, 91, 3)  # short side = resolution, aspect kept
    assert call.resolution == 64
    assert _colours(out) <= _palette_set(palette)
    if module in ("seg_upernet_ade20k", "seg_segformer_ade20k"):  # their random heads split the picture
        assert len(_colours(out)) > 2
    again, _ = reg.run(module, _photo(), processor_res=64)
    assert (again == out).all()  # deterministic
    bigger, _ = reg.run(module, _photo(), processor_res=128)
    assert bigger.shape == (128, 181, 3)


def test_the_extension_names_and_control_type(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    assert reg.canonical("seg_ofade20k") == "oneformer_ade20k" and reg.canonical("seg_ofcoco") == "oneformer_coco"
    aliases = reg.module_list(alias_names=True)
    assert {"seg_ofade20k", "seg_ofcoco", "seg_upernet_ade20k", "seg_segformer_ade20k"} <= set(aliases)
    assert "seg_ufade20k" not in aliases
    assert reg.module_detail()["oneformer_ade20k"] == {"model_free": False, "sliders": [
        {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}]}
    types = reg.control_types(["control_v11p_sd15_seg [e1f51eb9]", "control_v11p_sd15_canny [d14c016b]"])
    assert types["Segmentation"] == {
        "module_list": ["none", "oneformer_ade20k", "oneformer_coco", "seg_upernet_ade20k", "seg_segformer_ade20k"],
        "default_option": "oneformer_ade20k", "model_list": ["None", "control_v11p_sd15_seg [e1f51eb9]"],
        "default_model": "control_v11p_sd15_seg [e1f51eb9]"}


def test_the_ui_control_type_lists_them_with_the_seg_models(tmp_path: Path) -> None:
    from modules.ui.controlnet_units import model_choices, module_choices

    (tmp_path / "control_v11p_sd15_seg.safetensors").write_bytes(b"listed by name only")
    (tmp_path / "control_v11p_sd15_canny.safetensors").write_bytes(b"listed by name only")
    service = ControlNetService([tmp_path], tmp_path / "annotator")
    assert module_choices(service, "Segmentation") == [
        ("none", "none"), ("seg_ofade20k", "oneformer_ade20k"), ("seg_ofcoco", "oneformer_coco"),
        ("seg_upernet_ade20k", "seg_upernet_ade20k"), ("seg_segformer_ade20k", "seg_segformer_ade20k")]
    assert [t.split(" [")[0] for t in model_choices(service, "Segmentation")] == ["None", "control_v11p_sd15_seg"]


def test_uniformer_is_refused_naming_the_alternative(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    for name in ("seg_ufade20k", "uniformer"):
        with pytest.raises(UnknownPreprocessorError, match="UniFormer is not built in.*'seg_upernet_ade20k'"):
            reg.get(name)
    with pytest.raises(ApiError) as err:
        detect(ControlNetService([tmp_path], tmp_path),
               DetectBody(controlnet_module="seg_ufade20k", controlnet_input_images=["x"]))
    assert err.value.status_code == 422 and "seg_upernet_ade20k" in err.value.detail


def test_colorize_paints_class_k_in_colour_k() -> None:
    for palette in (ade20k_palette(), coco_panoptic_palette()):
        labels = np.arange(len(palette) + 2).reshape(1, -1) - 1  # -1 and len(palette): outside the table
        out = colorize(labels, palette)
        assert (out[0, 1:-1] == palette).all()
        assert (out[0, 0] == 0).all() and (out[0, -1] == 0).all()
    assert tuple(ade20k_palette()[0]) == (120, 120, 120) and tuple(ade20k_palette()[2]) == (6, 230, 230)
    assert tuple(coco_panoptic_palette()[0]) == (220, 20, 60)  # COCO "person"
    assert len(ade20k_palette()) == 150 and len(coco_panoptic_palette()) == 133


@pytest.mark.parametrize(("module", "force"), [
    ("seg_ofade20k", 2), ("seg_ofcoco", 132), ("seg_upernet_ade20k", 149), ("seg_segformer_ade20k", 4)])
def test_a_forced_class_paints_its_palette_colour(tmp_path: Path, module: str, force: int) -> None:
    builder, where, palette_of = NETWORKS[module]
    palette = palette_of()
    builder(tmp_path / where, num_labels=len(palette), force_class=force)
    out, _ = PreprocessorRegistry(tmp_path).run(module, _photo(), processor_res=64)
    assert _colours(out) == {tuple(int(v) for v in palette[force])}


def test_weights_in_a_pickle_go_through_the_restricted_unpickler(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import modules.controlnet.preprocessors.segmentation as seg

    tiny.write_segformer(tmp_path / "segformer" / "segformer-b0-finetuned-ade-512-512", force_class=7, pickle=True)
    read: list[Path] = []

    def spy(path: Path) -> Any:
        read.append(path)
        return seg_load(path)

    seg_load = seg.load_pickled_checkpoint
    monkeypatch.setattr(seg, "load_pickled_checkpoint", spy)
    out, _ = PreprocessorRegistry(tmp_path).run("seg_segformer_ade20k", _photo(), processor_res=64)
    assert read == [tmp_path / "segformer" / "segformer-b0-finetuned-ade-512-512" / "pytorch_model.bin"]
    assert _colours(out) == {tuple(int(v) for v in ade20k_palette()[7])}


@pytest.mark.parametrize(("module", "folder", "key"), [
    ("seg_ofade20k", "oneformer_ade20k_swin_large", "oneformer"),
    ("seg_ofcoco", "oneformer_coco_swin_large", "oneformer"),
    ("seg_upernet_ade20k", "upernet-convnext-small", "upernet"),
    ("seg_segformer_ade20k", "segformer-b0-finetuned-ade-512-512", "segformer"),
])
def test_a_missing_folder_is_named_with_where_it_goes(tmp_path: Path, module: str, folder: str, key: str) -> None:
    root = tmp_path / "annotator"
    with pytest.raises(AnnotatorMissingError) as err:
        PreprocessorRegistry(root).run(module, _photo())
    text = str(err.value)
    assert f"'{folder}'" in text and f"'{root}'" in text and f"'{root / key}'" in text
    assert "never download" in text
    with pytest.raises(ApiError) as api_err:
        detect(ControlNetService([tmp_path], root),
               DetectBody(controlnet_module=module, controlnet_input_images=[_b64(_photo())]))
    assert api_err.value.status_code == 422 and folder in api_err.value.detail


def test_the_extensions_detectron2_file_is_named_as_not_read(tmp_path: Path) -> None:
    (tmp_path / "oneformer").mkdir()
    (tmp_path / "oneformer" / "250_16_swin_l_oneformer_ade20k_160k.pth").write_bytes(b"never unpickled")
    with pytest.raises(AnnotatorMissingError, match="'250_16_swin_l_oneformer_ade20k_160k.pth' \\(found at .*\\) "
                                                    "is not read: only the transformers folder is"):
        PreprocessorRegistry(tmp_path).run("seg_ofade20k", _photo())


def test_a_folder_with_another_network_is_a_clear_error(tmp_path: Path) -> None:
    tiny.write_segformer(tmp_path / "upernet-convnext-small")  # a SegFormer where UperNet belongs
    with pytest.raises(AnnotatorLoadError, match="holds a segformer network with 150 classes; the preprocessor "
                                                 "needs UperNet \\(ADE20K\\) with 150 classes"):
        PreprocessorRegistry(tmp_path).run("seg_upernet_ade20k", _photo(), processor_res=64)
    tiny.write_segformer(tmp_path / "segformer-b0-finetuned-ade-512-512", num_labels=19)  # a Cityscapes head
    with pytest.raises(AnnotatorLoadError, match="with 19 classes.*needs SegFormer \\(ADE20K\\) with 150"):
        PreprocessorRegistry(tmp_path).run("seg_segformer_ade20k", _photo(), processor_res=64)


def test_oneformer_without_tokenizer_files_uses_the_apps_clip_tokenizer(tmp_path: Path) -> None:
    folder = tiny.write_oneformer(tmp_path / "oneformer_ade20k_swin_large", force_class=5)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    out, _ = PreprocessorRegistry(tmp_path).run("seg_ofade20k", _photo(), processor_res=64)
    assert _colours(out) == {tuple(int(v) for v in ade20k_palette()[5])}
    shutil.rmtree(folder)


def _b64(image: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()
