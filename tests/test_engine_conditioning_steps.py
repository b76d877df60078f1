"""The engine switches conditioning at the scheduled steps and combines AND weights as stated.

A spy on the UNet records the text conditioning of every call the sampler makes, so these
tests see exactly what the denoiser received at each step.
"""

from __future__ import annotations

import pytest
import torch

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.text.conditioning import PromptConditioner, TextOptions
from tests.engine_helpers import engine_context

BASE = dict(width=64, height=64, cfg_scale=5.0, seed=4, sampler_name="Euler", save_images=False)


@pytest.fixture()
def spy_ctx(tiny_sd1, tmp_path):
    ctx = engine_context(tiny_sd1, tmp_path)
    calls: list[torch.Tensor] = []
    unet = ctx.model.unet
    original = unet.forward

    def forward(sample, timestep, encoder_hidden_states=None, **kw):
        calls.append(encoder_hidden_states.detach().clone())
        return original(sample, timestep, encoder_hidden_states=encoder_hidden_states, **kw)

    unet.forward = forward
    yield ctx, calls
    unet.forward = original


def _encode(ctx, text: str) -> torch.Tensor:
    return PromptConditioner(ctx.model, TextOptions()).encode_texts([text]).crossattn[0]


def test_prompt_editing_switches_at_the_scheduled_step(spy_ctx):
    ctx, calls = spy_ctx
    generate(GenerationRequest(prompt="a [red:blue:0.5] circle", steps=4, **BASE), ctx)
    red, blue = _encode(ctx, "a red circle"), _encode(ctx, "a blue circle")
    assert len(calls) == 4  # Euler: one batched (cond + uncond) call per step
    conds = [c[0] for c in calls]  # row 0 = the prompt, row 1 = the negative
    # A1111: the schedule is [[2, red], [4, blue]] and sampler step i (0-based) takes the first entry
    # with end_at_step >= i, so "from" holds for steps 0, 1, 2 and "to" only for step 3.
    assert [torch.allclose(c, red, atol=1e-5) for c in conds] == [True, True, True, False]
    assert [torch.allclose(c, blue, atol=1e-5) for c in conds] == [False, False, False, True]


def test_alternation_changes_every_step(spy_ctx):
    ctx, calls = spy_ctx
    generate(GenerationRequest(prompt="a [cat|dog] photo", steps=4, **BASE), ctx)
    cat, dog = _encode(ctx, "a cat photo"), _encode(ctx, "a dog photo")
    picks = ["cat" if torch.allclose(c[0], cat, atol=1e-5) else "dog" if torch.allclose(c[0], dog, atol=1e-5)
             else "?" for c in calls]
    # Schedule [[1, cat], [2, dog], [3, cat], [4, dog]] read at steps i = 0..3 (A1111's indexing).
    assert picks == ["cat", "cat", "dog", "cat"]


def test_and_weights_combine_as_uncond_plus_weighted_differences(spy_ctx):
    ctx, calls = spy_ctx
    from modules.engine.denoiser import CFGDenoiser

    seen = {}
    original = CFGDenoiser._run

    def run(self, *args):
        den_c, den_u = original(self, *args)
        seen.setdefault("parts", (den_c.clone(), den_u.clone()))
        return den_c, den_u

    CFGDenoiser._run = run
    captured = {}
    original_call = CFGDenoiser.__call__

    def call(self, x, sigma, **kw):
        out = original_call(self, x, sigma, **kw)
        captured.setdefault("out", out.clone())
        return out

    CFGDenoiser.__call__ = call
    try:
        generate(GenerationRequest(prompt="a cat AND a dog :0.5 AND sky :-0.3", steps=1, **BASE), ctx)
    finally:
        CFGDenoiser._run, CFGDenoiser.__call__ = original, original_call
    den_c, den_u = seen["parts"]
    assert den_c.shape[0] == 3 and calls[0].shape[0] == 4  # three sub-prompts + one uncond in one batch
    expected = den_u[0] + 5.0 * (1.0 * (den_c[0] - den_u[0]) + 0.5 * (den_c[1] - den_u[0])
                                 - 0.3 * (den_c[2] - den_u[0]))
    assert torch.allclose(captured["out"][0], expected, atol=1e-5)
