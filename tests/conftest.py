"""Shared pytest fixtures: tiny random-weight checkpoints written once per test session, and the
engine fixtures the txt2img/img2img/inpaint engine tests share.

Each checkpoint fixture returns the path of an original-layout `.safetensors` file with its sidecar
`.yaml` (see tests/fixtures/tiny_models.py); files are built lazily, only when a test asks for them.
Imports of the engine stay inside the fixtures so that collecting tests which need none stays light.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread (SDUI_TEST_THREADS to change): the test models are tiny, and on the 2-core
    machines this runs on a second thread costs more in hand-offs than it gains (a tiny conv took
    0.46 ms with one thread, 1.0-3.8 ms with two), while the server and browser need a core."""
    import torch

    torch.set_num_threads(int(os.environ.get("SDUI_TEST_THREADS", "1")))


def _tiny(tmp_path_factory: pytest.TempPathFactory, family_value: str) -> Path:
    from modules.models.sd_model import ModelFamily
    from tests.fixtures.tiny_models import make_tiny_checkpoint

    folder = tmp_path_factory.mktemp(f"tiny-{family_value}")
    return make_tiny_checkpoint(ModelFamily(family_value), folder / f"tiny-{family_value}.safetensors")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """At the first test of each file, collect garbage and freeze what survives (gc.freeze).

    The suite runs in one process whose heap grows with every file (torch, gradio, every module
    imported, session fixtures), and each full `gc.collect()` walked all of it: the model cache runs
    one per checkpoint switch, timing tests start with one, and the collector's own full passes
    come at allocation thresholds. test_refiner.py spent 7.8 of its 22 s in 44 full collections
    when run alone, and its tests took three times as long in the whole suite. Frozen objects are
    still freed by reference counting; only cycles among objects alive at a file boundary are left
    to the end. Everything a test or a file's fixtures create is collected as before, so leak and
    RSS checks see every cycle the code under test makes."""
    import gc

    module = getattr(item, "module", None)
    if module is not None and item.config.stash.get(_FROZEN_AT, None) is not module:
        item.config.stash[_FROZEN_AT] = module
        gc.collect()
        gc.freeze()


_FROZEN_AT = pytest.StashKey[object]()


@pytest.fixture(scope="session")
def tiny_sd1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sd1")


@pytest.fixture(scope="session")
def tiny_sd1_inpaint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sd1-inpaint")


@pytest.fixture(scope="session")
def tiny_sd2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sd2")


@pytest.fixture(scope="session")
def tiny_sd2v(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sd2-v")


@pytest.fixture(scope="session")
def tiny_sd2_inpaint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sd2-inpaint")


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sdxl")


@pytest.fixture(scope="session")
def tiny_sdxl_refiner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sdxl-refiner")


@pytest.fixture(scope="session")
def tiny_sdxl_inpaint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "sdxl-inpaint")


@pytest.fixture(scope="module")
def sd1_model(tiny_sd1: Path):
    """The tiny SD1 model on the CPU, loaded once per test module."""
    from tests.engine_helpers import load_cpu_model

    return load_cpu_model(tiny_sd1)


@pytest.fixture()
def ctx(tiny_sd1: Path, sd1_model, tmp_path: Path):
    """An EngineContext on `sd1_model` with a fresh data folder per test."""
    from tests.engine_helpers import engine_context

    return engine_context(tiny_sd1, tmp_path, model=sd1_model)


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list:
    """Replace img2img's sampler by "return the start latent" and record each setup it is given (fast)."""
    from modules.engine import img2img

    calls = []

    def fake(state, plan, setup, rng, full_sigmas=None, step_offset=0):
        calls.append(setup)
        return setup.x

    monkeypatch.setattr(img2img, "run_sampler", fake)
    return calls
