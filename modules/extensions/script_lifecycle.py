"""A1111's per-batch and per-picture script methods, on the engine's hook points, for one job.

`process_images(p)` runs the job with a hook layer of its own (`LayeredHooks`): the job's
AlwaysVisible scripts are called where A1111 calls them —

- `before_batch`: `p.prompts/negative_prompts/seeds/subseeds/hr_prompts` = this batch's slice of
  `p.all_*`, then `before_process_batch` and `process_batch` (kwargs `batch_number`, `prompts`,
  `seeds`, `subseeds`); what `p.prompts`/`p.seeds`/... hold afterwards is what the batch is made with;
- `before_sampling`: `process_before_every_sampling(p, *args, x=, noise=, c=, uc=)` (every pass);
- `after_batch`: `postprocess_batch(p, *args, images=, batch_number=)` with the decoded batch in
  [0, 1], then `postprocess_batch_list(p, pp, *args, batch_number=)` (`pp.images` a list);
- `after_image` (after the app's own, e.g. face restoration; before saving):
  `postprocess_image(p, pp, *args)` and `postprocess_image_after_composite(p, pp, *args)`; a
  replaced `pp.image` is what is saved, shown and returned, and `p.extra_generation_params` as it
  is then (per-picture lists and callables resolved) is written into that picture's infotext.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from modules.hooks.host import HookHost

log = logging.getLogger(__name__)

OWNER = "extension scripts"


def job_hooks(p: Any, req: Any, host: Any) -> HookHost:
    """A hook host holding `p`'s scripts for the job `req` (the engine calls it beside the app's)."""
    hooks = HookHost()
    own = _Own(p, req)
    hooks.register("before_batch", lambda payload: _before_batch(p, own, host, payload), owner=OWNER)
    if _overridden(p, "process_before_every_sampling"):
        hooks.register("before_sampling", lambda payload: _before_sampling(p, host, payload), owner=OWNER)
    if _overridden(p, "postprocess_batch", "postprocess_batch_list"):  # else the batch is not converted
        hooks.register("after_batch", lambda payload: _after_batch(p, host, payload), owner=OWNER)
    pasted: set[int] = set()  # pictures whose postprocess_image ran before img2img's paste
    hooks.register("before_paste", lambda payload: _before_paste(p, host, pasted, payload), owner=OWNER)
    hooks.register("after_image", lambda payload: _after_image(p, own, host, pasted, payload), owner=OWNER)
    return hooks


def _overridden(p: Any, *methods: str) -> bool:
    from modules.extensions.facades.script_api import Script

    return any(getattr(type(entry.script), m, None) is not getattr(Script, m, None)
               for entry, _args in p._active for m in methods)


@dataclass
class _Own:
    """Tells the job `p` describes from jobs a built-in script runs inside it (other sizes)."""

    p: Any
    req: Any

    def mine(self, payload: Any) -> bool:
        return payload.req is self.req

    def span(self, batch_number: int) -> slice:
        n = self.p.batch_size
        return slice(batch_number * n, (batch_number + 1) * n)


def _before_batch(p: Any, own: _Own, host: Any, payload: Any) -> None:
    if own.mine(payload):
        span = own.span(payload.batch_number)
        p.prompts, p.negative_prompts = p.all_prompts[span], p.all_negative_prompts[span]
        p.seeds, p.subseeds = p.all_seeds[span], p.all_subseeds[span]
        p.hr_prompts, p.hr_negative_prompts = p.batch_hr_prompts(span)
    else:
        p.prompts, p.negative_prompts = list(payload.prompts), list(payload.negative_prompts)
        p.seeds, p.subseeds = list(payload.seeds), list(payload.subseeds)
        p.hr_prompts, p.hr_negative_prompts = payload.hr_prompts, payload.hr_negative_prompts
    p.iteration = payload.batch_number
    for method in ("before_process_batch", "process_batch"):
        host._each(p, method, batch_number=payload.batch_number, prompts=p.prompts, seeds=p.seeds,
                   subseeds=p.subseeds)
    count = len(p.prompts)
    payload.prompts, payload.negative_prompts = list(p.prompts), _fit(p.negative_prompts, count)
    payload.seeds, payload.subseeds = _fit(p.seeds, count), _fit(p.subseeds, count)
    if payload.hr_prompts is not None:
        payload.hr_prompts = _fit(p.hr_prompts or p.prompts, count)
        payload.hr_negative_prompts = _fit(p.hr_negative_prompts or p.negative_prompts, count)


def _fit(values: Any, count: int) -> list[Any]:
    """A list of `count` values: a script that changed the number of prompts without the seeds
    (or the other way round) gets the last value repeated, or the list cut."""
    values = list(values)
    if not values:
        return values
    return (values + [values[-1]] * count)[:count]


def _before_sampling(p: Any, host: Any, payload: Any) -> None:
    host._each(p, "process_before_every_sampling", x=payload.x, noise=payload.noise, c=payload.cond,
               uc=payload.uncond)


def _after_batch(p: Any, host: Any, payload: Any) -> None:
    p.prompts, p.negative_prompts = list(payload.prompts), list(payload.negative_prompts)
    p.seeds, p.subseeds = list(payload.seeds), list(payload.subseeds)
    host._each(p, "postprocess_batch", images=payload.images, batch_number=payload.batch_number)
    from modules.extensions.facades.script_api import PostprocessBatchListArgs

    batch = PostprocessBatchListArgs(list(payload.images))
    host._each(p, "postprocess_batch_list", batch, batch_number=payload.batch_number)
    payload.images = batch.images
    payload.prompts, payload.negative_prompts = list(p.prompts), list(p.negative_prompts)
    payload.seeds, payload.subseeds = list(p.seeds), list(p.subseeds)


def _before_paste(p: Any, host: Any, pasted: set[int], payload: Any) -> None:
    """img2img with a mask: postprocess_image and postprocess_maskoverlay before the paste, as A1111."""
    from modules.extensions.facades.script_api import PostprocessImageArgs, PostProcessMaskOverlayArgs

    p.batch_index = payload.index % max(int(p.batch_size), 1)
    pp = PostprocessImageArgs(payload.image)
    host._each(p, "postprocess_image", pp)
    payload.image = pp.image
    overlay = PostProcessMaskOverlayArgs(p.batch_index, payload.mask, payload.original)
    host._each(p, "postprocess_maskoverlay", overlay)
    payload.mask, payload.original = overlay.mask_for_overlay, overlay.overlay_image
    pasted.add(payload.index)


def _after_image(p: Any, own: _Own, host: Any, pasted: set[int], payload: Any) -> None:
    from modules.extensions.facades.script_api import PostprocessImageArgs

    p.batch_index = payload.index % max(int(p.batch_size), 1)
    pp = PostprocessImageArgs(payload.image)
    if payload.index in pasted:
        pasted.discard(payload.index)
    else:
        host._each(p, "postprocess_image", pp)
    host._each(p, "postprocess_image_after_composite", pp)
    payload.image = pp.image
    index = payload.index if own.mine(payload) else None
    payload.infotext_entries.update(resolved_params(p, index, payload.infotext))


def resolved_params(p: Any, index: int | None, infotext: str) -> dict[str, Any]:
    """`p.extra_generation_params` for one picture: lists give that picture's item, callables are
    called as A1111 calls them (keyword arguments p, index, prompt_text, negative_prompt, ...)."""
    out: dict[str, Any] = {}
    position = p.batch_index
    for key, value in dict(p.extra_generation_params).items():
        try:
            if isinstance(value, list):
                total = len(p.all_prompts or [])
                value = value[index if index is not None and len(value) == total else position]
            elif callable(value):
                value = value(**_infotext_locals(p, index, position))
        except Exception as err:
            log.warning("extra_generation_params[%r] could not be written: %s", key, err)
            p._comments.append(f"A script's infotext entry {key!r} could not be written: {type(err).__name__}: "
                               f"{err}")
            value = None
        out[key] = value
    return out


def _infotext_locals(p: Any, index: int | None, position: int) -> dict[str, Any]:
    """The names A1111's create_infotext has in scope when it calls an entry."""
    i = index if index is not None else position
    prompts, negatives = p.prompts or p.all_prompts, p.negative_prompts or p.all_negative_prompts
    return {"p": p, "index": i, "iteration": getattr(p, "iteration", 0), "position_in_batch": position,
            "all_prompts": p.all_prompts, "all_negative_prompts": p.all_negative_prompts,
            "all_seeds": p.all_seeds, "all_subseeds": p.all_subseeds, "comments": None, "use_main_prompt": False,
            "prompt_text": prompts[min(position, len(prompts) - 1)] if prompts else "",
            "negative_prompt": negatives[min(position, len(negatives) - 1)] if negatives else ""}
