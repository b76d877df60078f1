"""DeepBooru: the resnet_custom_v3 layout, loading the real file layout strictly, and A1111's tag settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from modules.deepbooru.model_file import (
    MODEL_NAME,
    DeepBooruLoadError,
    DeepBooruModelMissingError,
    find_model_file,
    load_deepbooru,
)
from modules.deepbooru.network import DeepDanbooruNet, layer_plan, same_padding
from modules.deepbooru.service import DeepBooruTagger
from modules.deepbooru.tags import TagOptions, format_tags, picture_tensor
from modules.interrogate.placement import ModelPlacement
from modules.models.safe_unpickle import UnsafeCheckpointError
from tests.fixtures.tiny_deepbooru import LOGITS, TAGS, write_colour_deepbooru, write_tiny_deepbooru

# The published torch port (AUTOMATIC1111/TorchDeepDanbooru, model-resnet_custom_v3.pt), read from its
# public module definition: (index, out, in, kernel, stride) of every downsampling block's layers, the
# stem and the head. Stage 4 (n_Conv_97..100) lists its shortcut after the main path.
PUBLISHED = [
    (0, 64, 3, 7, 2), (1, 256, 64, 1, 1), (2, 64, 64, 1, 1), (3, 64, 64, 3, 1), (4, 256, 64, 1, 1),
    (11, 512, 256, 1, 2), (12, 128, 256, 1, 1), (13, 128, 128, 3, 2), (14, 512, 128, 1, 1),
    (36, 1024, 512, 1, 2), (37, 256, 512, 1, 1), (38, 256, 256, 3, 2), (39, 1024, 256, 1, 1),
    (97, 256, 1024, 1, 1), (98, 256, 256, 3, 2), (99, 1024, 256, 1, 1), (100, 1024, 1024, 1, 2),
    (158, 2048, 1024, 1, 2), (159, 512, 1024, 1, 1), (160, 512, 512, 3, 2), (161, 2048, 512, 1, 1),
    (168, 4096, 2048, 1, 2), (169, 1024, 2048, 1, 1), (170, 1024, 1024, 3, 2), (171, 4096, 1024, 1, 1),
    (176, 1024, 1024, 3, 1), (177, 4096, 1024, 1, 1), (178, 9176, 4096, 1, 1),
]


def test_full_size_layout_matches_the_published_file() -> None:
    with torch.device("meta"):
        net = DeepDanbooruNet()
    state = net.state_dict()
    convs = {int(k.split("_")[2].split(".")[0]) for k in state}
    assert convs == set(range(179))
    assert "n_Conv_178.bias" not in state and all(f"n_Conv_{i}.bias" in state for i in range(178))
    for index, cout, cin, kernel, stride in PUBLISHED:
        assert tuple(state[f"n_Conv_{index}.weight"].shape) == (cout, cin, kernel, kernel), index
        assert getattr(net, f"n_Conv_{index}").stride == (stride, stride), index
    strided = sorted(i for i in range(179) if getattr(net, f"n_Conv_{i}").stride == (2, 2))
    assert strided == [0, 11, 13, 36, 38, 98, 100, 158, 160, 168, 170]
    # 160,956,544 float32 numbers = 643.8 MB: the size of the published model-resnet_custom_v3.pt
    assert sum(t.numel() for t in state.values()) == 160_956_544


@pytest.mark.parametrize(("size", "kernel", "stride", "pads"), [
    (512, 7, 2, [2, 3, 2, 3]), (256, 3, 2, [0, 1, 0, 1]), (128, 3, 1, [1, 1, 1, 1]), (64, 1, 2, [0, 0, 0, 0]),
])
def test_same_padding_puts_the_odd_pixel_after(size: int, kernel: int, stride: int, pads: list[int]) -> None:
    x = torch.ones(1, 1, size, size)
    padded = same_padding(x, kernel, stride)
    assert padded.shape[-1] == size + pads[0] + pads[1]
    if pads[0] == 0 and pads[1]:
        assert padded[0, 0, 0, 0] == 1 and padded[0, 0, -1, -1] == 0


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_loads_the_real_layout_strictly(tmp_path: Path, suffix: str) -> None:
    path = write_tiny_deepbooru(tmp_path / "torch_deepdanbooru", suffix=suffix)
    assert find_model_file(path.parent) == path
    net = load_deepbooru(path)
    assert net.tags == TAGS and layer_plan(4, len(TAGS)) == net.plan
    with torch.no_grad():
        probs = net(picture_tensor(Image.new("RGB", (300, 200), "white")))[0]
    assert torch.allclose(probs, torch.sigmoid(torch.tensor(LOGITS)), atol=1e-6)


def test_converted_file_takes_tags_txt_beside_it(tmp_path: Path) -> None:
    import safetensors.torch

    path = write_tiny_deepbooru(tmp_path, suffix=".safetensors")
    weights = safetensors.torch.load_file(str(path))
    safetensors.torch.save_file(weights, str(path))  # no metadata
    with pytest.raises(DeepBooruLoadError, match="tags.txt"):
        load_deepbooru(path)
    (tmp_path / "tags.txt").write_text("\n".join(TAGS) + "\n", encoding="utf-8")
    assert load_deepbooru(path).tags == TAGS


def test_wrong_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    path = write_tiny_deepbooru(tmp_path)
    state = torch.load(path, weights_only=False)
    del state["n_Conv_120.bias"]
    torch.save(state, path)
    with pytest.raises(DeepBooruLoadError, match="n_Conv_120.bias"):
        load_deepbooru(path)
    state = torch.load(write_tiny_deepbooru(tmp_path), weights_only=False)
    state["tags"] = state["tags"][:3]
    torch.save(state, path)
    with pytest.raises(DeepBooruLoadError, match="scores 8 tags but its tag list names 3"):
        load_deepbooru(path)
    torch.save({"unet.weight": torch.zeros(2), "tags": []}, path)
    with pytest.raises(DeepBooruLoadError, match="not a DeepDanbooru"):
        load_deepbooru(path)


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("ran",))


def test_pickles_go_through_the_restricted_unpickler(tmp_path: Path) -> None:
    path = tmp_path / MODEL_NAME
    torch.save({"tags": [], "x": _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"builtin__\.print.*Nothing from the file was executed"):
        load_deepbooru(path)


def test_missing_model_names_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "torch_deepdanbooru"
    with pytest.raises(DeepBooruModelMissingError) as err:
        find_model_file(folder)
    message = str(err.value)
    assert MODEL_NAME in message and str(folder) in message and "models/torch_deepdanbooru" in message


def test_colour_network_sees_the_picture_in_rgb_order(tmp_path: Path) -> None:
    tagger = DeepBooruTagger(tmp_path, ModelPlacement(torch.device("cpu")), lambda: TagOptions(sort_alpha=False))
    write_colour_deepbooru(tmp_path)
    assert tagger.tag(Image.new("RGB", (640, 360), (230, 20, 20))) == "red theme"
    assert tagger.tag(Image.new("RGB", (200, 700), (20, 20, 230))) == "blue theme"
    scores = tagger.scores(Image.new("RGBA", (64, 64), (230, 20, 20, 255)))
    assert scores["red_theme"] > 0.99 and scores["blue_theme"] < 0.01


NAMES = list(TAGS)
SCORES = [float(torch.sigmoid(torch.tensor(v))) for v in LOGITS]


@pytest.mark.parametrize(("options", "expected"), [
    (TagOptions(), r"1girl, back\\slash, blue sky, hat \(object\), long hair, smile"),
    (TagOptions(sort_alpha=False), r"1girl, back\\slash, long hair, smile, hat \(object\), blue sky"),
    (TagOptions(threshold=0.7), r"1girl, back\\slash, long hair, smile"),
    (TagOptions(threshold=0.6, sort_alpha=False), r"1girl, back\\slash, long hair, smile, hat \(object\)"),
    (TagOptions(use_spaces=False), r"1girl, back\\slash, blue_sky, hat_\(object\), long_hair, smile"),
    (TagOptions(escape=False), r"1girl, back\slash, blue sky, hat (object), long hair, smile"),
    (TagOptions(filter_tags="long hair, smile ,blue_sky"), r"1girl, back\\slash, hat \(object\)"),
    (TagOptions(threshold=0.9, include_ranks=True, escape=False), "(1girl:0.982), (back\\slash:0.953)"),
    (TagOptions(threshold=1.0), ""),
])
def test_settings_shape_the_tag_string(options: TagOptions, expected: str) -> None:
    assert format_tags(NAMES, SCORES, options) == expected


def test_rating_tags_never_reach_the_prompt_and_threshold_is_inclusive() -> None:
    out = format_tags(["rating:safe", "a", "b"], [0.99, 0.5, 0.4999], TagOptions())
    assert out == "a"


def test_options_from_settings_use_a1111_keys_and_defaults() -> None:
    from modules.settings.schema import default_schema

    schema = default_schema()
    defaults = {k: schema[k].default for k in ("interrogate_deepbooru_score_threshold", "deepbooru_sort_alpha",
                                               "deepbooru_use_spaces", "deepbooru_escape", "deepbooru_filter_tags",
                                               "interrogate_return_ranks")}
    assert defaults == {"interrogate_deepbooru_score_threshold": 0.5, "deepbooru_sort_alpha": True,
                        "deepbooru_use_spaces": True, "deepbooru_escape": True, "deepbooru_filter_tags": "",
                        "interrogate_return_ranks": False}
    assert all(schema[k].section == "interrogate" for k in defaults)
    assert TagOptions.from_settings(defaults) == TagOptions()
    changed = TagOptions.from_settings({**defaults, "deepbooru_sort_alpha": False, "deepbooru_filter_tags": "x"})
    assert changed == TagOptions(sort_alpha=False, filter_tags="x")
    assert json.dumps(defaults)  # plain JSON values, as /sdapi/v1/options returns them


class _RecordingPlacer:
    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    def move(self, key: str, modules: list, device: torch.device) -> None:
        self.moves.append((key, torch.device(device).type))


@pytest.mark.parametrize(("flags", "leaves_device"), [({"medvram": True}, True), ({}, False)])
def test_model_is_a_cache_handle_that_leaves_the_device_under_medvram(tmp_path: Path, flags: dict,
                                                                      leaves_device: bool) -> None:
    from modules.interrogate.placement import CachePlacement
    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryPolicy

    placer = _RecordingPlacer()
    cache = ModelCache(MemoryPolicy.from_flags(device="cuda", **flags), placer=placer)
    placement = CachePlacement(cache)
    tagger = DeepBooruTagger(tmp_path, placement)
    write_tiny_deepbooru(tmp_path)
    assert tagger.tag(Image.new("RGB", (32, 32))).startswith("1girl, ")
    key = f"interrogate/deepbooru/{MODEL_NAME}"
    assert cache.handle(key).kind == "interrogator" and placement.loaded() == [key]
    assert placer.moves == [(key, "cuda")] + ([(key, "cpu")] if leaves_device else [])
    placement.unload()  # the Interrogate tab's Unload
    assert not cache.handle(key).loaded
