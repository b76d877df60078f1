"""A1111's per-batch rule for extra networks: each batch uses the networks named in its own first
prompt (a script may give batches other prompts), on the tiny SD1 checkpoint with real LoRA files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.hooks.host import HookHost
from modules.infotext import parse_generation_parameters
from tests.engine_helpers import pixels
from tests.test_networks_lora import SMALL, _ctx, _weights, lora_dir, sd1  # noqa: F401 (fixtures)

JOB = dict(SMALL, n_iter=2, batch_size=1)


def _with_batch_prompts(ctx, prompts: dict[int, str]):
    """The seam an A1111 script's `p.all_prompts` reaches: `before_batch` sets a batch's prompts."""
    def set_prompts(payload) -> None:
        if payload.batch_number in prompts:
            payload.prompts = [prompts[payload.batch_number]] * len(payload.prompts)

    host = HookHost()
    host.register("before_batch", set_prompts, owner="test-script")
    ctx.hooks = host
    return ctx


def _alone(ctx, prompt: str, seed: int) -> np.ndarray:
    ctx.hooks = None
    return pixels(generate(GenerationRequest(prompt=prompt, **dict(SMALL, seed=seed)), ctx).images[0])


def _count_activations(services, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []
    original = services.registry.activate

    def spy(tags, job):
        calls.append({k: [p.items[0] for p in v] for k, v in tags.items()})
        return original(tags, job)

    monkeypatch.setattr(services.registry, "activate", spy)
    return calls


@pytest.mark.parametrize("second", ["a cat <lora:second:1>", "a cat"])
def test_each_batch_uses_its_own_first_prompts_networks(second, tiny_sd1: Path, sd1, lora_dir, tmp_path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, services = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    first = "a cat <lora:textonly:1> <lora:lora:1>"  # a text-encoder LoRA: batch 2 must not reuse its encodings
    before = _weights(sd1)
    calls = _count_activations(services, monkeypatch)
    result = generate(GenerationRequest(prompt=first, **JOB), _with_batch_prompts(ctx, {1: second}))
    assert not result.comments, result.comments
    assert len(calls) == (2 if "<lora" in second else 1)  # no tags in batch 2: nothing to activate
    after = _weights(sd1)
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    texts = [parse_generation_parameters(t) for t in result.infotexts[result.index_of_first_image:]]
    assert "textonly: " in texts[0]["Lora hashes"] and "lora: " in texts[0]["Lora hashes"]
    if "<lora" in second:
        assert texts[1]["Lora hashes"].startswith("second: ") and "textonly" not in texts[1]["Lora hashes"]
    else:
        assert "Lora hashes" not in texts[1]
    pictures = [pixels(im) for im in result.images[result.index_of_first_image:]]
    assert np.array_equal(pictures[0], _alone(ctx, first, 7))
    assert np.array_equal(pictures[1], _alone(ctx, second, 8))
    assert all(np.array_equal(before[k].numpy(), _weights(sd1)[k].numpy()) for k in before)


def test_the_same_tags_in_every_batch_are_collected_once(tiny_sd1: Path, sd1, lora_dir, tmp_path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, services = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    calls = _count_activations(services, monkeypatch)
    prompt = "a cat <lora:lora:1>"
    result = generate(GenerationRequest(prompt=prompt, **JOB), _with_batch_prompts(ctx, {1: "a dog <lora:lora:1>"}))
    assert calls == [{"lora": ["lora"]}]
    texts = [parse_generation_parameters(t) for t in result.infotexts[result.index_of_first_image:]]
    assert texts[0]["Lora hashes"] == texts[1]["Lora hashes"]
    assert np.array_equal(pixels(result.images[result.index_of_first_image + 1]), _alone(ctx, "a dog <lora:lora:1>", 8))


def test_a_batch_whose_prompt_a_script_changed_first_uses_its_networks(tiny_sd1: Path, sd1, lora_dir,  # noqa: F811
                                                                       tmp_path) -> None:
    ctx, _ = _ctx(tiny_sd1, sd1, tmp_path, lora_dir)
    changed = "a cat <lora:second:1>"
    result = generate(GenerationRequest(prompt="a cat", **dict(SMALL)), _with_batch_prompts(ctx, {0: changed}))
    assert parse_generation_parameters(result.infotexts[0])["Lora hashes"].startswith("second: ")
    assert np.array_equal(pixels(result.images[0]), _alone(ctx, changed, 7))
