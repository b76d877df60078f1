"""Interrogation with tiny open_clip and BLIP models written where the app reads them."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from modules.hashing import sha256_file
from modules.interrogate.clip_loader import ClipLoadError
from modules.interrogate.folders import InterrogateFolders, ModelNotFoundError
from modules.interrogate.modes import MODES, UnknownModeError
from modules.interrogate.placement import ModelPlacement
from modules.interrogate.service import CaptionModelMissingError, InterrogateService
from modules.models.safe_unpickle import UnsafeCheckpointError
from tests.fixtures.tiny_interrogate import short_term_lists, write_tiny_blip, write_tiny_clip

CLIP = "tiny-vit/random"
CAPTION = "tiny-blip"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrogate-models")
    write_tiny_clip(root / "CLIP")
    write_tiny_clip(root / "CLIP", tag="pickled", seed=1, suffix=".bin")
    write_tiny_blip(root / "BLIP" / CAPTION)
    short_term_lists(root / "lists")
    return root


def make_service(models_dir: Path, cache: Path) -> InterrogateService:
    folders = InterrogateFolders(clip_dir=models_dir / "CLIP", caption_dir=models_dir / "BLIP", demo_root=None)
    return InterrogateService(folders, cache, ModelPlacement(torch.device("cpu")),
                              lambda _name, path: sha256_file(path), term_lists=models_dir / "lists")


@pytest.fixture(scope="module")
def service(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> InterrogateService:
    return make_service(models_dir, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    img = Image.new("RGB", (80, 64), (30, 60, 220))
    img.paste((220, 30, 30), (25, 17, 55, 47))
    return img


def table_terms(service: InterrogateService, name: str = CLIP) -> set[str]:
    ci = service._interrogators[name]
    return {t for table in (ci.artists, ci.flavors, ci.mediums, ci.movements, ci.trendings) for t in table.labels}


def test_lists_installed_models_by_folder_layout(service: InterrogateService) -> None:
    assert service.clip_names() == ["tiny-vit/pickled", "tiny-vit/random"]
    assert service.caption_names() == [CAPTION]


def test_missing_clip_model_names_file_folder_and_installed(service: InterrogateService) -> None:
    with pytest.raises(ModelNotFoundError) as err:
        service.prompt(Image.new("RGB", (8, 8)), "ViT-L-14/openai", "negative")
    text = str(err.value)
    assert "ViT-L-14/openai.safetensors" in text and "CLIP" in text
    assert "tiny-vit/random" in text and "tiny-vit/pickled" in text


def test_missing_caption_model_names_folder(service: InterrogateService, picture: Image.Image) -> None:
    with pytest.raises(ModelNotFoundError, match=r"BLIP.*blip-large.*Installed: tiny-blip"):
        service.prompt(picture, CLIP, "fast", "blip-large")


def test_no_caption_model_installed_says_where(tmp_path: Path, models_dir: Path, picture: Image.Image) -> None:
    folders = InterrogateFolders(clip_dir=models_dir / "CLIP", caption_dir=tmp_path / "BLIP", demo_root=None)
    svc = InterrogateService(folders, tmp_path, ModelPlacement(torch.device("cpu")), lambda _n, p: sha256_file(p))
    with pytest.raises(CaptionModelMissingError, match="negative"):
        svc.prompt(picture, CLIP, "best")


def test_unknown_mode_lists_modes(service: InterrogateService, picture: Image.Image) -> None:
    with pytest.raises(UnknownModeError, match="best, fast, classic, negative, caption"):
        service.prompt(picture, CLIP, "poetic")


def test_every_mode_returns_text_from_the_term_lists(service: InterrogateService, picture: Image.Image,
                                                     models_dir: Path) -> None:
    caption = service.prompt(picture, CLIP, "caption", CAPTION)
    assert caption and caption == caption.strip()
    terms = table_terms(service)
    ci = service._interrogators[CLIP]
    files = models_dir / "lists"
    assert ci.mediums.labels == (files / "mediums.txt").read_text().splitlines()
    assert ci.flavors.labels == (files / "flavors.txt").read_text().splitlines()
    for mode in ("fast", "best"):
        prompt = service.prompt(picture, CLIP, mode, CAPTION)
        assert prompt.startswith(caption), mode
        added = prompt[len(caption):].split(", ")[1:]
        assert added and all(part in terms for part in added), (mode, prompt)
    classic = service.prompt(picture, CLIP, "classic", CAPTION)
    parts = classic[len(caption) + 2:].split(", ")
    assert any(parts[0].startswith(m) for m in ci.mediums.labels) and parts[1] in ci.trendings.labels
    assert parts[2] in ci.movements.labels and all(p in ci.flavors.labels for p in parts[3:])
    negative = service.prompt(picture, CLIP, "negative").split(", ")
    assert negative and all(p in set(ci.flavors.labels) | set(ci.negative.labels) for p in negative)


def test_analyze_five_categories_and_ranked_labels(service: InterrogateService, picture: Image.Image) -> None:
    result = service.analyze(picture, CLIP, ["red square", "  ", "green circle", "a cat"])
    assert list(result) == ["medium", "artist", "movement", "trending", "flavor", "labels"]
    ci = service._interrogators[CLIP]
    for key, table in (("medium", ci.mediums), ("artist", ci.artists), ("flavor", ci.flavors)):
        assert len(result[key]) == 5 and set(result[key]) <= set(table.labels)
        assert sum(result[key].values()) == pytest.approx(1.0, abs=1e-4)
    labels = result["labels"]
    assert set(labels) == {"red square", "green circle", "a cat"}
    scores = list(labels.values())
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-4)
    assert "labels" not in service.analyze(picture, CLIP)


def test_pickled_clip_loads_through_the_restricted_unpickler(service: InterrogateService,
                                                            picture: Image.Image) -> None:
    assert service.prompt(picture, "tiny-vit/pickled", "negative")


def test_pickle_with_code_is_refused(tmp_path: Path, models_dir: Path, picture: Image.Image) -> None:
    clip_dir = tmp_path / "CLIP" / "tiny-vit"
    clip_dir.mkdir(parents=True)
    (clip_dir / "config.json").write_bytes((models_dir / "CLIP" / "tiny-vit" / "config.json").read_bytes())

    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("ran",))

    (clip_dir / "evil.bin").write_bytes(pickle.dumps({"x": Evil()}))
    svc = make_service(models_dir, tmp_path / "cache")
    svc.folders = InterrogateFolders(clip_dir=tmp_path / "CLIP", caption_dir=models_dir / "BLIP", demo_root=None)
    with pytest.raises(UnsafeCheckpointError):
        svc.prompt(picture, "tiny-vit/evil", "negative")


def test_unknown_architecture_without_config_says_what_to_add(tmp_path: Path, models_dir: Path,
                                                               picture: Image.Image) -> None:
    folder = tmp_path / "CLIP" / "my-clip"
    folder.mkdir(parents=True)
    (folder / "weights.safetensors").write_bytes((models_dir / "CLIP" / "tiny-vit" / "random.safetensors").read_bytes())
    svc = make_service(models_dir, tmp_path / "cache")
    svc.folders = InterrogateFolders(clip_dir=tmp_path / "CLIP", caption_dir=models_dir / "BLIP", demo_root=None)
    with pytest.raises(ClipLoadError, match=r"my-clip.*config.json"):
        svc.prompt(picture, "my-clip/weights", "negative")


def test_term_embeddings_are_cached_on_disk_and_reused(models_dir: Path, tmp_path: Path,
                                                       picture: Image.Image) -> None:
    first = make_service(models_dir, tmp_path)
    first.prompt(picture, CLIP, "negative")
    assert first.last_timing is not None and not first.last_timing.from_cache
    files = sorted(p.name for p in tmp_path.glob("interrogate/*/*.safetensors"))
    assert files == [f"tiny-vit_random_{t}.safetensors" for t in
                     ("artists", "flavors", "mediums", "movements", "negative", "trendings")]
    folder = next(tmp_path.glob("interrogate/*"))
    assert folder.name == sha256_file(models_dir / "CLIP" / "tiny-vit" / "random.safetensors")[:16]
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    time.sleep(0.01)
    second = make_service(models_dir, tmp_path)
    assert second.prompt(picture, CLIP, "negative") == first.prompt(picture, CLIP, "negative")
    assert second.last_timing is not None and second.last_timing.from_cache
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # read, not rewritten
    assert second.last_timing.seconds < first.last_timing.seconds


def test_unload_drops_models_and_tables(service: InterrogateService, picture: Image.Image) -> None:
    service.prompt(picture, CLIP, "negative")
    assert service.placement.loaded()
    service.unload()
    assert not service.placement.loaded() and not service._interrogators
    assert MODES[0] == "best"


class RecordingPlacer:
    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    def move(self, key: str, modules: list, device: torch.device) -> None:
        self.moves.append((key, torch.device(device).type))


@pytest.mark.parametrize(("flags", "leaves_device"), [({"medvram": True}, True), ({"lowvram": True}, True),
                                                      ({}, False)])
def test_models_are_cache_handles_and_leave_the_device_under_medvram(flags: dict, leaves_device: bool) -> None:
    from modules.interrogate.placement import CachePlacement
    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryPolicy

    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy.from_flags(device="cuda", **flags), placer=placer)
    placement = CachePlacement(cache)
    key = placement.register("interrogate/clip/x", lambda: torch.nn.Linear(2, 2))
    assert cache.handle(key).kind == "interrogator" and placement.loaded() == []
    with placement.use([key]) as parts:
        assert isinstance(parts[key], torch.nn.Linear)
        assert placer.moves == [(key, "cuda")]
    assert placer.moves[1:] == ([(key, "cpu")] if leaves_device else [])
    assert placement.loaded() == [key]
    placement.unload()
    assert placement.loaded() == [] and not cache.handle(key).loaded
    with placement.use([key]):  # loads again after an unload
        assert placement.loaded() == [key]


def test_app_service_uses_the_model_cache(tmp_path: Path) -> None:
    from modules.cmd_args import parse_args
    from modules.interrogate.placement import CachePlacement
    from modules.runtime import build_runtime

    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--no-hashing"], environ={}))
    try:
        assert isinstance(runtime.interrogator.placement, CachePlacement)
        assert runtime.interrogator.placement.cache is runtime.models
        assert "demo/shapes" in runtime.interrogator.clip_names()
        assert "demo/shapes" in runtime.interrogator.caption_names()
    finally:
        runtime.shutdown()
