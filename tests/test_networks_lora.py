"""LoRA/LyCORIS through the engine on tiny SD1 and SDXL checkpoints, files in every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.hashing import HashCache, addnet_hash_safetensors
from modules.infotext import parse_generation_parameters
from modules.models.patches import applied
from modules.networks.feature import NetworksFeature, to_seam_patches
from modules.networks.job import NetworkJob
from modules.networks.services import build_network_services
from modules.text.conditioning import PromptConditioner
from modules.text.extra_networks import parse_prompt_extra_networks
from tests.engine_helpers import engine_context, load_cpu_model, pixels
from tests.fixtures.tiny_networks import FORMATS, write_lora

SMALL = dict(width=64, height=64, steps=3, cfg_scale=5.0, sampler_name="Euler", save_images=False, seed=7)


@pytest.fixture(scope="module")
def sd1(tiny_sd1: Path):
    return load_cpu_model(tiny_sd1)


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory, sd1) -> Path:
    folder = tmp_path_factory.mktemp("Lora")
    for fmt in FORMATS:
        write_lora(folder / "formats", fmt, sd1, fmt, seed=1)
    write_lora(folder, "second", sd1, "lora", seed=2)
    write_lora(folder, "textonly", sd1, "lora", seed=3, unet=False)
    write_lora(folder, "aliased", sd1, "lora", seed=4, metadata={"ss_output_name": "myStyle"})
    (folder / "broken.safetensors").write_bytes(b"\xff" * 8 + b"not a header")
    return folder


def _ctx(ckpt: Path, model, data_dir: Path, lora_dir: Path, overrides: dict | None = None):
    ctx = engine_context(ckpt, data_dir, overrides, model=model)
    services = build_network_services([lora_dir], HashCache(data_dir / "hashes.json"))
    ctx.features = (NetworksFeature(services),)
    return ctx, services


def _weights(model) -> dict[str, torch.Tensor]:
    modules = {"unet": model.unet, **{f"te{i}": b.model for i, b in enumerate(model.text_encoders)}}
    return {f"{c}.{k}": v.detach().clone() for c, m in modules.items() for k, v in m.state_dict().items()}


def _image(ctx, prompt: str):
    result = generate(GenerationRequest(prompt=prompt, **SMALL), ctx)
    return pixels(result.images[0]), result


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_zero_is_identity_one_changes_and_weights_return(fmt, tiny_sd1, sd1, lora_dir, tmp_path):
    ctx, _ = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    before = _weights(sd1)
    base, _ = _image(ctx, "a cat")
    zero, _ = _image(ctx, f"a cat <lora:{fmt}:0>")
    one, result = _image(ctx, f"a cat <lora:{fmt}:1>")
    assert np.array_equal(zero, base)
    assert np.abs(one - base).mean() > 1.0, f"{fmt} at weight 1 did not change the picture"
    after = _weights(sd1)
    assert all(torch.equal(before[k], after[k]) for k in before), "base weights changed after the job"
    assert not result.comments, result.comments


def test_two_loras_compose_and_hashes_match_files(tiny_sd1, sd1, lora_dir, tmp_path):
    ctx, _ = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    a, _ = _image(ctx, "a cat <lora:lora:0.6>")
    b, _ = _image(ctx, "a cat <lora:second:0.6>")
    both, result = _image(ctx, "a cat <lora:lora:0.6> <lora:second:0.6>")
    assert np.abs(both - a).mean() > 1.0 and np.abs(both - b).mean() > 1.0
    info = parse_generation_parameters(result.infotexts[0])
    want = (f"lora: {addnet_hash_safetensors(lora_dir / 'formats' / 'lora.safetensors')[:12]}, "
            f"second: {addnet_hash_safetensors(lora_dir / 'second.safetensors')[:12]}")
    assert info["Lora hashes"] == want
    assert '<lora:lora:0.6>' in result.infotexts[0].splitlines()[0]  # the prompt keeps its tags


def test_hooks_mode_matches_merge_mode(tiny_sd1, sd1, lora_dir, tmp_path):
    merged, _ = _image(_ctx(tiny_sd1, sd1, tmp_path, lora_dir)[0], "a cat <lora:locon:0.8>")
    hooked, _ = _image(_ctx(tiny_sd1, sd1, tmp_path, lora_dir, {"lora_apply_mode": "hooks"})[0],
                       "a cat <lora:locon:0.8>")
    assert np.abs(merged - hooked).max() <= 2


def test_te_and_unet_weights_separately_and_alias(tiny_sd1, sd1, lora_dir, tmp_path):
    ctx, _ = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    base, _ = _image(ctx, "a cat")
    te_only, _ = _image(ctx, "a cat <lora:lora:1:0>")
    unet_only, _ = _image(ctx, "a cat <lora:lora:0:1>")
    named, _ = _image(ctx, "a cat <lora:lora:0:unet=1>")
    assert np.abs(te_only - base).mean() > 0.5 and np.abs(unet_only - base).mean() > 0.5
    assert np.array_equal(named, unet_only)
    by_alias, result = _image(ctx, "a cat <lora:myStyle:1>")
    by_name, _ = _image(ctx, "a cat <lora:aliased:1>")
    assert np.array_equal(by_alias, by_name) and not result.comments


def test_lora_applies_to_chunks_after_break(tiny_sd1, sd1, lora_dir, tmp_path):
    ctx, services = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    text = "a cat BREAK a dog"
    plain = PromptConditioner(sd1).encode_texts([text]).crossattn
    job = NetworkJob(sd1)
    services.registry.activate(parse_prompt_extra_networks("<lora:textonly:1>")[1], job)
    parts = {"unet": sd1.unet, "text_encoders": sd1.text_encoders}
    with applied(parts, [to_seam_patches(job.patches, sd1, "merge")]):
        patched = PromptConditioner(sd1).encode_texts([text]).crossattn
    assert plain.shape[1] == 154
    assert (patched[:, 77:] - plain[:, 77:]).abs().max() > 1e-3  # the second chunk is changed too
    assert torch.equal(PromptConditioner(sd1).encode_texts([text]).crossattn, plain)


def test_missing_wrong_family_and_broken_files_warn_while_others_work(tiny_sd1, sd1, tiny_sdxl, lora_dir, tmp_path):
    sdxl = load_cpu_model(tiny_sdxl)
    write_lora(lora_dir, "xlstyle", sdxl, "lora", seed=5)
    ctx, services = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    services.refresh_loras()
    good, _ = _image(ctx, "a cat <lora:lora:1>")
    mixed, result = _image(ctx, "a cat <lora:lora:1> <lora:xlstyle:1> <lora:broken:1> <lora:nothere:1>")
    assert np.array_equal(mixed, good)  # the good one still applies, the others do nothing
    text = " | ".join(result.comments)
    assert "LoRA 'xlstyle' was made for SDXL" in text
    assert "LoRA 'broken' could not be read" in text
    assert "LoRA not found: nothere" in text
    broken = services.loras.find("broken")
    assert broken is not None and broken.error and services.loras.find("lora").error is None


@pytest.mark.parametrize("fmt", ["lora", "loha", "peft"])
def test_sdxl_loras_with_both_text_encoders(fmt, tiny_sdxl, tmp_path):
    sdxl = load_cpu_model(tiny_sdxl)
    folder = tmp_path / "Lora"
    write_lora(folder, "xl", sdxl, fmt, seed=6)
    ctx, _ = _ctx(tiny_sdxl, sdxl, tmp_path, folder)
    before = _weights(sdxl)
    base, _ = _image(ctx, "a cat")
    zero, _ = _image(ctx, "a cat <lora:xl:0>")
    one, result = _image(ctx, "a cat <lyco:xl:1>")
    assert np.array_equal(zero, base) and np.abs(one - base).mean() > 1.0
    assert not result.comments, result.comments
    after = _weights(sdxl)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_tags_inside_prompt_editing_and_and_activate_for_the_whole_job(tiny_sd1, sd1, lora_dir, tmp_path):
    ctx, _ = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    _, result = _image(ctx, "[a cat:a dog <lora:lora:1>:2] AND a bird <lora:second:0.5>")
    info = parse_generation_parameters(result.infotexts[0])
    assert info["Lora hashes"].startswith("lora: ") and "second: " in info["Lora hashes"]


def test_a_job_without_tags_gets_no_patches(tiny_sd1, sd1, lora_dir, tmp_path):
    from modules.engine.features import FeatureSetup, PassContext
    from modules.engine.passes import first_pass

    ctx, services = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    req = GenerationRequest(prompt="a cat", **SMALL)
    setup = FeatureSetup(req, "a cat", "", {}, ctx.settings, None, sd1, torch.device("cpu"))
    contribution = NetworksFeature(services).contribute(setup, PassContext(0, first_pass(req), sd1))
    assert contribution.patches == [] and not contribution.infotext and not contribution.comments


def test_lora_applies_in_both_hires_passes_and_weights_return(tiny_sd1, sd1, lora_dir, tmp_path):
    from modules.hires.feature import HiresFeature
    from modules.upscalers.catalog import UpscalerCatalog

    ctx, services = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    hires = HiresFeature(UpscalerCatalog({}))
    ctx.features = (NetworksFeature(services), hires)
    before = _weights(sd1)
    fields = dict(SMALL, enable_hr=True, hr_scale=2.0, hr_second_pass_steps=2, denoising_strength=0.5)
    plain = generate(GenerationRequest(prompt="a cat", **fields), ctx)
    styled = generate(GenerationRequest(prompt="a cat <lora:lora:1>", **fields), ctx)
    assert styled.images[0].size == (128, 128) and not styled.comments, styled.comments
    assert np.abs(pixels(styled.images[0]) - pixels(plain.images[0])).mean() > 1.0
    assert "Lora hashes" in parse_generation_parameters(styled.infotexts[0])
    after = _weights(sd1)
    assert all(torch.equal(before[k], after[k]) for k in before)
