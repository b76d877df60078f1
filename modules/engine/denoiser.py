"""The CFG denoiser: UNet + classifier-free guidance in k-diffusion's denoiser form.

Samplers see `model(x, sigma) -> denoised`; everything A1111 users expect to happen per
model call lives here: the conditioning of the current step (prompt editing, alternation),
AND-composition weights, v/eps prediction scaling, SDXL micro-conditioning, and the extra
input channels of inpainting models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from modules.engine.guidance_hooks import PostCFG, PostCFGHook, PreCFG, PreCFGHook
from modules.engine.unet_call import UNetCall, UNetWrapper, build_chain, run_unet
from modules.models.sd_model import LoadedModel
from modules.samplers.discretization import DiscreteSchedule
from modules.text.scheduled_cond import reconstruct_cond_batch, reconstruct_multicond_batch


@dataclass
class GuidanceInputs:
    """The per-job conditioning a denoiser needs (built once, read every step)."""

    cond: Any  # MulticondLearnedConditioning
    uncond: Any  # list[list[ScheduledPromptConditioning]]
    cfg_scale: float
    image_cond: torch.Tensor | None = None  # (B, 5, h, w) for inpainting models: mask + masked-image latent
    time_ids_cond: torch.Tensor | None = None  # (B, 6|5) SDXL micro-conditioning
    time_ids_uncond: torch.Tensor | None = None
    pad_cond_uncond: bool = False


@dataclass
class DenoiserHooks:
    """The open part of the denoiser: UNet wrappers (outermost first) and CFG hooks."""

    unet_wrappers: Sequence[UNetWrapper] = ()
    pre_cfg: Sequence[PreCFGHook] = ()
    post_cfg: Sequence[PostCFGHook] = ()
    pass_index: int = 0
    total_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _rows(cb: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return cb.crossattn, cb.pooled


def _pad_tokens(t: torch.Tensor, length: int, empty: torch.Tensor) -> torch.Tensor:
    """Pad (B, T, C) to `length` tokens by repeating the empty-prompt chunk (A1111's padding)."""
    missing = length - t.shape[1]
    if missing <= 0:
        return t
    reps = missing // empty.shape[1]
    return torch.cat([t, empty.to(t).expand(t.shape[0], -1, -1).repeat(1, reps, 1)], dim=1)


class CFGDenoiser:
    """Callable `(x, sigma) -> denoised` with classifier-free guidance."""

    def __init__(self, model: LoadedModel, schedule: DiscreteSchedule, inputs: GuidanceInputs,
                 empty_chunk: torch.Tensor | None = None, hooks: DenoiserHooks | None = None) -> None:
        self.model = model
        self.hooks = hooks or DenoiserHooks()
        self._chain = build_chain(self.hooks.unet_wrappers, lambda call: run_unet(self.model.unet, call))
        self.schedule = schedule
        self.inputs = inputs
        self.empty_chunk = empty_chunk
        self.step = 0
        self.last_uncond_denoised: torch.Tensor | None = None
        self.dtype = next(model.unet.parameters()).dtype

    def _unet(self, x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor, pooled: torch.Tensor | None,
              time_ids: torch.Tensor | None, image_cond: torch.Tensor | None,
              rows: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """One UNet call in sigma space: returns the denoised estimate."""
        c_skip, c_out, c_in = self.schedule.scalings(sigma, self.model.prediction_type)
        c_skip, c_out, c_in = (c.reshape(-1, 1, 1, 1).to(x) for c in (c_skip, c_out, c_in))
        x_in = x * c_in
        if image_cond is not None:
            x_in = torch.cat([x_in, image_cond.to(x_in)], dim=1)
        t = self.schedule.sigma_to_t(sigma).to(x.device)
        added = None
        if self.model.family.is_sdxl:
            added = {"text_embeds": pooled.to(self.dtype), "time_ids": time_ids.to(self.dtype)}
        call = UNetCall(x_in.to(self.dtype), t.to(self.dtype) if t.is_floating_point() else t, sigma,
                        context.to(self.dtype), added, is_uncond=rows[0], image_index=rows[1], step=self.step,
                        total_steps=self.hooks.total_steps, pass_index=self.hooks.pass_index,
                        extra=self.hooks.extra)
        out = self._chain(call).float()
        return x * c_skip + out * c_out

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **_: Any) -> torch.Tensor:
        inp = self.inputs
        conds_list, cond = reconstruct_multicond_batch(inp.cond, self.step)
        uncond = reconstruct_cond_batch(inp.uncond, self.step)
        sigma = sigma.reshape(-1)
        cfg_scale = inp.cfg_scale
        if self.hooks.pre_cfg:
            pre = PreCFG(self.step, sigma, x, cond, uncond, cfg_scale, self.hooks.pass_index)
            for hook in self.hooks.pre_cfg:
                hook(pre)
            x, cond, uncond, cfg_scale = pre.x, pre.cond, pre.uncond, pre.cfg_scale
        c_ctx, c_pool = _rows(cond)
        u_ctx, u_pool = _rows(uncond)
        batch = x.shape[0]
        if sigma.numel() == 1:
            sigma = sigma.expand(batch)
        # Repeat each image's latent once per AND sub-prompt, then the uncond rows.
        repeats = [len(c) for c in conds_list]
        idx = torch.tensor([i for i, n in enumerate(repeats) for _ in range(n)], device=x.device)
        cond_rows = [j for c in conds_list for j, _ in c]
        x_c, s_c = x[idx], sigma[idx]
        ctx_c = c_ctx[cond_rows]
        pool_c = c_pool[cond_rows] if c_pool is not None else None
        tid_c = inp.time_ids_cond[idx] if inp.time_ids_cond is not None else None
        ic_c = inp.image_cond[idx] if inp.image_cond is not None else None
        den_c, den_u = self._run(x_c, s_c, ctx_c, pool_c, tid_c, ic_c, x, sigma, u_ctx, u_pool, idx)
        self.last_uncond_denoised = den_u
        out = den_u.clone()
        pos = 0
        for i, conds in enumerate(conds_list):
            for _, weight in conds:
                out[i] += (den_c[pos] - den_u[i]) * (weight * cfg_scale)
                pos += 1
        if self.hooks.post_cfg:
            post = PostCFG(self.step, sigma, x, out, den_u, self.hooks.pass_index)
            for hook in self.hooks.post_cfg:
                hook(post)
            out = post.denoised
        return out

    def _run(self, x_c: torch.Tensor, s_c: torch.Tensor, ctx_c: torch.Tensor, pool_c: torch.Tensor | None,
             tid_c: torch.Tensor | None, ic_c: torch.Tensor | None, x: torch.Tensor, sigma: torch.Tensor,
             u_ctx: torch.Tensor, u_pool: torch.Tensor | None,
             idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cond and uncond in one batch when token lengths match (or padding is on), else two calls."""
        inp = self.inputs
        own = torch.arange(x.shape[0], device=x.device)
        rows_c = (torch.zeros(len(idx), dtype=torch.bool, device=x.device), idx)
        rows_u = (torch.ones(len(own), dtype=torch.bool, device=x.device), own)
        tid_u, ic_u = inp.time_ids_uncond, inp.image_cond
        if ctx_c.shape[1] != u_ctx.shape[1] and inp.pad_cond_uncond and self.empty_chunk is not None:
            length = max(ctx_c.shape[1], u_ctx.shape[1])
            ctx_c = _pad_tokens(ctx_c, length, self.empty_chunk)
            u_ctx = _pad_tokens(u_ctx, length, self.empty_chunk)
        if ctx_c.shape[1] == u_ctx.shape[1]:
            n = x_c.shape[0]
            both = self._unet(
                torch.cat([x_c, x]), torch.cat([s_c, sigma]), torch.cat([ctx_c, u_ctx.to(ctx_c)]),
                torch.cat([pool_c, u_pool.to(pool_c)]) if pool_c is not None else None,
                torch.cat([tid_c, tid_u]) if tid_c is not None else None,
                torch.cat([ic_c, ic_u]) if ic_c is not None else None,
                (torch.cat([rows_c[0], rows_u[0]]), torch.cat([rows_c[1], rows_u[1]])))
            return both[:n], both[n:]
        den_c = self._unet(x_c, s_c, ctx_c, pool_c, tid_c, ic_c, rows_c)
        den_u = self._unet(x, sigma, u_ctx, u_pool, tid_u, ic_u, rows_u)
        return den_c, den_u
