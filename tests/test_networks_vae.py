"""VAE choice rules and the float32 retry of a half-precision decode that gives NaNs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from modules.engine.decode import decode_latents
from modules.networks.vae_choice import VaeNotFoundError, VaeSelector, apply_vae
from tests.engine_helpers import load_cpu_model


def test_half_vae_nan_is_retried_in_float32_and_logged_once(tiny_sd1: Path, caplog: pytest.LogCaptureFixture):
    model = load_cpu_model(tiny_sd1)
    model.vae = model.vae.half()
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 3e5  # overflows fp16
    with torch.no_grad():
        raw = model.vae.decode((latents / model.vae_scaling_factor).half()).sample
    assert torch.isnan(raw).any()  # the failure this guards against
    with caplog.at_level(logging.WARNING):
        out = decode_latents(model, latents)
        decode_latents(model, latents)
    assert not torch.isnan(out).any() and next(model.vae.parameters()).dtype == torch.float32
    assert sum("float32" in r.message for r in caplog.records) == 1


def test_choice_rules(tmp_path: Path, tiny_sd1: Path):
    (tmp_path / "VAE" / "sub").mkdir(parents=True)
    (tmp_path / "VAE" / "sub" / "x.safetensors").write_bytes(b"")
    ckpt = tmp_path / "m.safetensors"
    ckpt.write_bytes(b"")
    selector = VaeSelector([tmp_path / "VAE"])
    assert selector.names() == ["x.safetensors"]
    assert selector.choose("Automatic", ckpt).path is None
    (tmp_path / "m.vae.pt").write_bytes(b"")
    assert selector.choose("Automatic", ckpt).path == tmp_path / "m.vae.pt"
    assert selector.choose("None", ckpt).path is None
    assert selector.choose("x.safetensors", ckpt).path == tmp_path / "VAE" / "sub" / "x.safetensors"
    with pytest.raises(VaeNotFoundError, match="nope"):
        selector.choose("nope", ckpt)
    forced = VaeSelector([tmp_path / "VAE"], forced=tmp_path / "m.vae.pt")
    assert forced.choose("None", ckpt).source == "--vae-path"


def test_switching_back_restores_the_checkpoints_own_vae(tiny_sd1: Path, tmp_path: Path):
    from safetensors.torch import save_file

    from modules.models.sd_model import ModelFamily
    from tests.fixtures.tiny_models import build_tiny_components

    model = load_cpu_model(tiny_sd1)
    own = model.vae
    other = {k: v.contiguous() for k, v in build_tiny_components(ModelFamily.SD1, seed=5).vae.state_dict().items()}
    save_file(other, str(tmp_path / "o.safetensors"))
    selector = VaeSelector([tmp_path])
    swapped = apply_vae(model, selector.choose("o.safetensors", None))
    assert swapped is not own and model.vae is swapped
    assert apply_vae(model, selector.choose("None", None)) is own
    assert apply_vae(model, selector.choose("o.safetensors", None)) is swapped  # kept, not read again
