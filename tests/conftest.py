"""Shared pytest fixtures: tiny random-weight checkpoints written once per test session.

Each fixture returns the path of an original-layout `.safetensors` file with its sidecar `.yaml`
(see tests/fixtures/tiny_models.py); files are built lazily, only when a test asks for them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _tiny(tmp_path_factory: pytest.TempPathFactory, family_value: str) -> Path:
    from modules.models.sd_model import ModelFamily
    from tests.fixtures.tiny_models import make_tiny_checkpoint

    folder = tmp_path_factory.mktemp(f"tiny-{family_value}")
    return make_tiny_checkpoint(ModelFamily(family_value), folder / f"tiny-{family_value}.safetensors")


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
