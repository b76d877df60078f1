"""Per-batch hook points and per-picture facts: what each picture was really generated with.

A1111 scripts (and our own extension API) may give each picture of a job its own prompt and seed
(`before_batch`) and change or replace the decoded pictures of a batch (`after_batch`). The engine
records, per picture index, the prompt, negative prompt, seeds and hires prompts it used, so the
infotext, the file name and the result describe that picture — not the job's first prompt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from modules.engine.decode import pil_from_unit, to_pil
from modules.hooks.payloads import AfterBatch, BeforeBatch
from modules.text.extra_networks import parse_prompt_extra_networks

if TYPE_CHECKING:
    from modules.engine.processing import BatchPlan, JobState

HIRES_PASS = "hires"  # the pass whose prompts are A1111's "hires prompts" (PassSpec.name)


@dataclass
class ImageFacts:
    """What one picture was generated with (prompts keep their extra-network tags)."""

    prompt: str
    negative_prompt: str
    seed: int
    subseed: int
    hr_prompt: str | None = None  # None: no hires pass
    hr_negative_prompt: str | None = None
    infotext: dict[str, Any] = field(default_factory=dict)  # this picture's own entries (after_image hooks)


def default_facts(state: "JobState", index: int) -> ImageFacts:
    seeds = state.seeds
    inside = index < len(seeds.all_seeds)
    return ImageFacts(state.prompt, state.negative_prompt, seeds.all_seeds[index] if inside else seeds.seed,
                      seeds.all_subseeds[index] if inside else seeds.subseed)


def _hires_spec(state: "JobState") -> Any:
    return next((spec for spec in state.passes[1:] if spec.name == HIRES_PASS), None)


def _strip(prompts: list[str]) -> list[str]:
    return [parse_prompt_extra_networks(p)[0] for p in prompts]


def batch_payload(state: "JobState", index: int) -> BeforeBatch:
    """The batch's defaults: the job's prompts, seeds i..i+n, the hires pass's prompts."""
    req, n = state.req, state.req.batch_size
    lo, hi = index * n, (index + 1) * n
    hires = _hires_spec(state)
    payload = BeforeBatch(req, index, [state.prompt] * n, [state.negative_prompt] * n,
                          list(state.seeds.all_seeds[lo:hi]), list(state.seeds.all_subseeds[lo:hi]))
    if hires is not None:
        payload.hr_prompts = [hires.prompt or state.prompt] * n
        payload.hr_negative_prompts = [hires.negative_prompt or state.negative_prompt] * n
    return payload


def _check_lengths(payload: BeforeBatch) -> int:
    lists = [payload.prompts, payload.negative_prompts, payload.seeds, payload.subseeds]
    if payload.hr_prompts is not None:
        lists += [payload.hr_prompts, payload.hr_negative_prompts or []]
    count = len(payload.prompts)
    if any(len(values) != count for values in lists):
        raise ValueError(f"batch {payload.batch_number}: a before_batch hook left prompts, negative prompts, "
                         f"seeds and subseeds of different lengths ({', '.join(str(len(v)) for v in lists)}); "
                         "change them together")
    return count


def plan_batch(state: "JobState", index: int) -> "BatchPlan | None":
    """Batch `index` after the `before_batch` hooks (None: a hook emptied it; it is skipped)."""
    from modules.engine.processing import BatchPlan

    payload = batch_payload(state, index)
    if state.ctx.hooks is not None and state.ctx.hooks.has("before_batch"):
        state.ctx.hooks.call("before_batch", payload)
    count = _check_lengths(payload)
    if count == 0:
        return None
    first = index * state.req.batch_size
    indices = [first + j for j in range(count)]
    for j, i in enumerate(indices):
        hr = payload.hr_prompts[j] if payload.hr_prompts is not None else None
        hr_neg = payload.hr_negative_prompts[j] if payload.hr_negative_prompts is not None else None
        state.image_facts[i] = ImageFacts(payload.prompts[j], payload.negative_prompts[j], int(payload.seeds[j]),
                                          int(payload.subseeds[j]), hr, hr_neg)
    return BatchPlan(index, _strip(payload.prompts), list(payload.negative_prompts),
                     [int(s) for s in payload.seeds], [int(s) for s in payload.subseeds],
                     hr_prompts=_strip(payload.hr_prompts) if payload.hr_prompts is not None else None,
                     hr_negative_prompts=payload.hr_negative_prompts, indices=indices,
                     extra_networks=parse_prompt_extra_networks(payload.prompts[0])[1])


def _as_list(images: Any) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        return list(images) if images.dim() == 4 else [images]
    return [torch.as_tensor(im) for im in images]


def after_batch(state: "JobState", plan: "BatchPlan", decoded: torch.Tensor) -> tuple[list[Image.Image], list[int]]:
    """The batch's pictures after the `after_batch` hooks, and the picture index of each."""
    hooks = state.ctx.hooks
    if hooks is None or not hooks.has("after_batch"):
        return to_pil(decoded), list(plan.indices)
    facts = [state.image_facts[i] for i in plan.indices]
    payload = AfterBatch(state.req, plan.index, ((decoded + 1.0) / 2.0).clamp(0, 1),
                         [f.prompt for f in facts], [f.negative_prompt for f in facts],
                         [f.seed for f in facts], [f.subseed for f in facts])
    hooks.call("after_batch", payload)
    pictures = [pil_from_unit(t.detach().float().cpu().unsqueeze(0))[0] for t in _as_list(payload.images)]
    indices = list(plan.indices[:len(pictures)])
    added = state.req.batch_size * state.req.n_iter + len(state.image_facts)
    indices += [added + j for j in range(len(pictures) - len(indices))]  # pictures a hook added
    for j, i in enumerate(indices):
        base = state.image_facts.get(i) or facts[-1]
        state.image_facts[i] = dataclasses.replace(
            base, prompt=_pick(payload.prompts, j, base.prompt),
            negative_prompt=_pick(payload.negative_prompts, j, base.negative_prompt),
            seed=int(_pick(payload.seeds, j, base.seed)), subseed=int(_pick(payload.subseeds, j, base.subseed)))
    return pictures, indices


def _pick(values: list[Any], j: int, fallback: Any) -> Any:
    return values[j] if j < len(values) else fallback


def mode_postprocess(state: "JobState", plan: "BatchPlan", pictures: list[Image.Image], indices: list[int],
                     postprocess: Any) -> list[Image.Image]:
    """The mode's pasting-back (img2img) on the pictures that belong to the batch's inputs."""
    if postprocess is None:
        return pictures
    n = min(len(plan.indices), len(pictures))
    own = dataclasses.replace(plan, prompts=plan.prompts[:n], negative_prompts=plan.negative_prompts[:n],
                              seeds=plan.seeds[:n], subseeds=plan.subseeds[:n], indices=plan.indices[:n])
    return list(postprocess(state, own, pictures[:n])) + pictures[n:]
