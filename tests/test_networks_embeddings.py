"""Textual-inversion embeddings in A1111's file formats, through the real conditioning and engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.hashing import sha256_file
from modules.infotext import parse_generation_parameters
from modules.networks.embeddings import EmbeddingDatabase
from modules.text.conditioning import PromptConditioner
from tests.engine_helpers import engine_context, load_cpu_model, pixels

SMALL = dict(width=64, height=64, steps=3, cfg_scale=5.0, sampler_name="Euler", save_images=False, seed=3)


@pytest.fixture(scope="module")
def sd1(tiny_sd1: Path):
    return load_cpu_model(tiny_sd1)


@pytest.fixture(scope="module")
def emb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("embeddings")
    g = torch.Generator().manual_seed(0)
    torch.save({"string_to_param": {"*": torch.randn(2, 32, generator=g)}, "name": "xyzstyle", "step": 500,
                "sd_checkpoint": "abcdef", "sd_checkpoint_name": "base"}, folder / "xyzstyle.pt")
    torch.save({"<qwert>": torch.randn(32, generator=g)}, folder / "qwert.bin")
    (folder / "sub").mkdir()
    save_file({"emb_params": torch.randn(3, 32, generator=g)}, str(folder / "sub" / "plopemb.safetensors"))
    save_file({"clip_l": torch.randn(1, 32, generator=g), "clip_g": torch.randn(1, 64, generator=g)},
              str(folder / "xlemb.safetensors"))
    save_file({"emb_params": torch.randn(1, 1024, generator=g)}, str(folder / "sd2emb.safetensors"))
    (folder / "garbage.pt").write_bytes(b"not a pickle at all")
    return folder


def test_formats_load_and_incompatible_ones_are_skipped_with_reasons(sd1, tiny_sdxl, emb_dir):
    db = EmbeddingDatabase([emb_dir])
    view = db.lookup(sd1)
    assert sorted(view.loaded) == ["plopemb", "qwert", "xyzstyle"]
    assert view.loaded["xyzstyle"].api_info() == {"step": 500, "sd_checkpoint": "abcdef",
                                                  "sd_checkpoint_name": "base", "shape": 32, "vectors": 2}
    assert view.loaded["plopemb"].vectors == 3
    assert "1024-wide" in view.skip_reasons["sd2emb"]
    assert "could not be read" in view.skip_reasons["garbage"]
    assert "xlemb" in view.skipped
    xl_view = db.lookup(load_cpu_model(tiny_sdxl))
    assert "xlemb" in xl_view.loaded and "xyzstyle" in xl_view.skipped


def test_embedding_changes_conditioning_only_where_its_name_is(sd1, emb_dir):
    view = EmbeddingDatabase([emb_dir]).lookup(sd1)
    plain = PromptConditioner(sd1).encode_texts(["a photo of xyzstyle"]).crossattn
    with_emb = PromptConditioner(sd1, embeddings=view)
    emb = with_emb.encode_texts(["a photo of xyzstyle"]).crossattn
    # positions: [BOS] a photo of <v1> <v2> ...; CLIP attention is causal, so tokens before the name are unchanged
    assert torch.allclose(emb[0, :4], plain[0, :4])
    assert (emb[0, 4:6] - plain[0, 4:6]).abs().max() > 1e-3
    assert set(with_emb.used_embeddings) == {"xyzstyle"}


def test_embedding_across_chunks_and_with_emphasis(sd1, emb_dir):
    view = EmbeddingDatabase([emb_dir]).lookup(sd1)
    cond = PromptConditioner(sd1, embeddings=view)
    long_text = "word " * 74 + "plopemb"  # 3 vectors do not fit after 74 tokens: they open chunk 2
    z = cond.encode_texts([long_text]).crossattn
    assert z.shape[1] == 154
    weighted = PromptConditioner(sd1, embeddings=view, options=None)
    a = weighted.encode_texts(["(plopemb:1.5) cat"]).crossattn
    b = weighted.encode_texts(["plopemb cat"]).crossattn
    assert not torch.allclose(a, b)


def test_engine_prompt_and_negative_and_ti_hashes(tiny_sd1, sd1, emb_dir, tmp_path):
    ctx = engine_context(tiny_sd1, tmp_path, model=sd1)
    db = EmbeddingDatabase([emb_dir])
    base = pixels(generate(GenerationRequest(prompt="a xyzstyle cat", negative_prompt="qwert", **SMALL),
                           ctx).images[0])
    ctx.embeddings = db.lookup(sd1)
    result = generate(GenerationRequest(prompt="a xyzstyle cat", negative_prompt="qwert", **SMALL), ctx)
    assert np.abs(pixels(result.images[0]) - base).mean() > 0.5
    info = parse_generation_parameters(result.infotexts[0])
    assert info["TI hashes"] == (f"xyzstyle: {sha256_file(emb_dir / 'xyzstyle.pt')[:12]}, "
                                 f"qwert: {sha256_file(emb_dir / 'qwert.bin')[:12]}")
