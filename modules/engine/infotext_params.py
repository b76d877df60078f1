"""The infotext of one generated image, in A1111's key order (reference §6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modules.infotext import build_infotext, ordered_generation_params
from modules.samplers.sigma_plan import resolved_schedule_label

if TYPE_CHECKING:
    from modules.engine.processing import JobState


def _emphasis_note(state: "JobState", prompt: str) -> str | None:
    mode = state.ctx.settings["emphasis"]
    used = "(" in prompt or "[" in prompt
    return mode if used and mode != "Original" else None


def _denoising_strength(state: "JobState") -> float | None:
    """img2img's strength; in txt2img the second pass's (hires fix writes it there, as A1111 does)."""
    if state.req.mode == "img2img":
        return state.req.denoising_strength
    later = [p.denoising_strength for p in state.passes[1:] if p.denoising_strength is not None]
    return later[0] if later else None


def _ti_hashes(used: dict[str, Any]) -> str | None:
    """`TI hashes: "name: 12hex, ..."` for the embeddings the prompts used (they hash their own files)."""
    parts = [f"{name}: {emb.short_hash()}" for name, emb in used.items() if hasattr(emb, "short_hash")]
    return ", ".join(parts) or None


def _hires_prompts(extras: dict[str, Any], facts: Any) -> None:
    """The picture's own hires prompts (A1111 writes them only where they differ from its prompts)."""
    for key, hr, base in (("Hires prompt", facts.hr_prompt, facts.prompt),
                          ("Hires negative prompt", facts.hr_negative_prompt, facts.negative_prompt)):
        if hr is not None:
            extras[key] = hr if hr != base else None


def generation_params(state: "JobState", index: int) -> dict[str, Any]:
    """Ordered key → value; None values are left out by the writer."""
    req, ctx = state.req, state.ctx
    facts = state.facts(index)
    s = ctx.settings
    variation = req.subseed_strength > 0
    resized = req.seed_resize_from_w > 0 and req.seed_resize_from_h > 0
    extras = state.infotext_entries()
    _hires_prompts(extras, facts)
    extras.update(facts.infotext)
    extras.setdefault("Emphasis", _emphasis_note(state, facts.prompt))
    if s.get("textual_inversion_add_hashes_to_infotext", True):
        extras.setdefault("TI hashes", _ti_hashes(state.conditioner.used_embeddings))
    return ordered_generation_params(
        steps=req.steps, sampler=state.sampler.name,
        schedule_type=resolved_schedule_label(state.sampler, state.scheduler), cfg_scale=req.cfg_scale,
        image_cfg_scale=req.image_cfg_scale if ctx.model.extra.get("is_ip2p") else None,
        seed=facts.seed, size=(req.width, req.height), model_hash=ctx.model_hash,
        model=ctx.model_name, vae_hash=ctx.vae_hash, vae=ctx.vae_name,
        variation_seed=facts.subseed if variation else None,
        variation_seed_strength=req.subseed_strength if variation else None,
        seed_resize_from=(req.seed_resize_from_w, req.seed_resize_from_h) if resized else None,
        denoising_strength=_denoising_strength(state),
        clip_skip=int(s["CLIP_stop_at_last_layers"]), ensd=s["eta_noise_seed_delta"] or None,
        rng=s["randn_source"], tiling=req.tiling, extras=extras,
        version=ctx.version if s["add_version_to_infotext"] else None)


def generation_infotext(state: "JobState", index: int) -> str:
    facts = state.facts(index)
    return build_infotext(facts.prompt, facts.negative_prompt, generation_params(state, index))
