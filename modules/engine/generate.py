"""The engine's entry point: one request in, one result out (no UI or web imports)."""

from __future__ import annotations

from modules.engine.context import EngineContext
from modules.engine.control import JobControl
from modules.engine.processing import run_job
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.sampling import txt2img_batch


def generate(req: GenerationRequest, ctx: EngineContext, control: JobControl | None = None) -> GenerationResult:
    """Run txt2img or img2img for `req` with the model and settings in `ctx`."""
    control = control or JobControl()
    if req.mode == "img2img":
        from modules.engine.img2img import img2img_batch, img2img_postprocess

        return run_job(req, ctx, control, img2img_batch, img2img_postprocess)
    return run_job(req, ctx, control, txt2img_batch)
