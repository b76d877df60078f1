"""The infotext of one generated image, in A1111's key order (reference §6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modules.infotext import build_infotext

if TYPE_CHECKING:
    from modules.engine.processing import JobState


def _emphasis_note(state: "JobState") -> str | None:
    mode = state.ctx.settings["emphasis"]
    used = "(" in state.prompt or "[" in state.prompt
    return mode if used and mode != "Original" else None


def generation_params(state: "JobState", index: int) -> dict[str, Any]:
    """Ordered key → value; None values are left out by the writer."""
    req, ctx, seeds = state.req, state.ctx, state.seeds
    s = ctx.settings
    clip_skip = int(s["CLIP_stop_at_last_layers"])
    variation = req.subseed_strength > 0
    resized = req.seed_resize_from_w > 0 and req.seed_resize_from_h > 0
    params: dict[str, Any] = {
        "Steps": req.steps,
        "Sampler": state.sampler.name,
        "Schedule type": ctx.samplers.schedule_label(state.sampler, state.scheduler),
        "CFG scale": req.cfg_scale,
        "Image CFG scale": req.image_cfg_scale if ctx.model.extra.get("is_ip2p") else None,
        "Seed": seeds.all_seeds[index],
        "Size": f"{req.width}x{req.height}",
        "Model hash": ctx.model_hash,
        "Model": ctx.model_name,
        "VAE hash": ctx.vae_hash,
        "VAE": ctx.vae_name,
        "Variation seed": seeds.all_subseeds[index] if variation else None,
        "Variation seed strength": req.subseed_strength if variation else None,
        "Seed resize from": f"{req.seed_resize_from_w}x{req.seed_resize_from_h}" if resized else None,
        "Denoising strength": req.denoising_strength if req.mode == "img2img" else None,
        "Clip skip": clip_skip if clip_skip > 1 else None,
        "ENSD": s["eta_noise_seed_delta"] if s["eta_noise_seed_delta"] else None,
        "RNG": s["randn_source"] if s["randn_source"] != "GPU" else None,
        "Tiling": "True" if req.tiling else None,
    }
    params.update(state.extra_params)
    params["Emphasis"] = params.get("Emphasis") or _emphasis_note(state)
    if s["add_version_to_infotext"]:
        params["Version"] = ctx.version
    return params


def generation_infotext(state: "JobState", index: int) -> str:
    return build_infotext(state.prompt, state.negative_prompt, generation_params(state, index))
