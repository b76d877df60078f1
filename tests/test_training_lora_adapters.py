"""LoRA adapters of the trainer: what they compute while training is what their saved kohya file
does when the app applies it (so a trained LoRA means the same thing in the app)."""

from __future__ import annotations

from pathlib import Path

import torch

from modules.models.patches import applied
from modules.networks.feature import to_seam_patches
from modules.networks.lora_network import add_patches, load_lora
from modules.networks.patching import PatchSet
from modules.training.lora_adapters import attach
from tests.engine_helpers import load_cpu_model
from tests.fixtures.tiny_models import unet_test_inputs


def test_saved_adapters_apply_like_the_training_hooks(tiny_sd1: Path, tmp_path: Path):
    model = load_cpu_model(tiny_sd1)
    text = model.text_encoders[0].model
    adapters = attach({"unet": model.unet, "te": text}, rank=2, alpha=1.0, seed=3)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for a in adapters.adapters:
            a.up.copy_(torch.randn(a.up.shape, generator=g) * 0.3)
    x, _, kwargs = unet_test_inputs(model.unet)
    t = torch.tensor([500])
    tokens = torch.tensor([[49406, 320, 2368, 49407] + [49407] * 73])
    with torch.no_grad():
        hooked = model.unet(x, t, text(input_ids=tokens).last_hidden_state, **kwargs).sample
    path = adapters.save(tmp_path / "trained.safetensors", {"ss_output_name": "trained"})
    adapters.remove()
    with torch.no_grad():
        plain = model.unet(x, t, text(input_ids=tokens).last_hidden_state, **kwargs).sample
    patches = PatchSet()
    report = add_patches(load_lora("trained", path), model, 1.0, 1.0, patches)
    assert report.matched == len(adapters.adapters) and not report.unmatched
    parts = {"unet": model.unet, "text_encoders": model.text_encoders}
    with applied(parts, [to_seam_patches(patches, model, "merge")]), torch.no_grad():
        loaded = model.unet(x, t, text(input_ids=tokens).last_hidden_state, **kwargs).sample
    assert (hooked - plain).abs().max() > 1e-3
    assert torch.allclose(loaded, hooked, atol=1e-4)
