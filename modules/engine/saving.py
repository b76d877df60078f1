"""Where a job's images and grids go, and under which names (A1111 folders and patterns)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from modules.images.filenames import FilenameContext
from modules.images.grid import image_grid
from modules.images.saving import SaveOptions, save_image
from modules.storage.output_folders import resolve_output_folder

if TYPE_CHECKING:
    from modules.engine.processing import JobState


def _resolve(state: "JobState", folder: str) -> Path:
    """Relative to the data folder; outside it only where `--allowed-output-dir` allows."""
    allowed = state.ctx.extras.get("allowed_output_dirs", ())
    return resolve_output_folder(folder, state.ctx.data_dir, allowed)


def samples_dir(state: "JobState") -> Path:
    req, s = state.req, state.ctx.settings
    if req.outpath_samples:
        return _resolve(state, req.outpath_samples)
    return _resolve(state, s["outdir_samples"] or s[f"outdir_{req.mode}_samples"])


def grids_dir(state: "JobState") -> Path:
    req, s = state.req, state.ctx.settings
    if req.outpath_grids:
        return _resolve(state, req.outpath_grids)
    return _resolve(state, s["outdir_grids"] or s[f"outdir_{req.mode}_grids"])


def save_options(state: "JobState") -> SaveOptions:
    return SaveOptions.from_settings(state.ctx.settings, **state.ctx.extras.get("save_flags", {}))


def filename_context(state: "JobState", index: int) -> FilenameContext:
    req, ctx = state.req, state.ctx
    default = ctx.samplers.default_scheduler_of(state.sampler)
    n = req.batch_size
    facts = state.facts(index)
    return FilenameContext(
        seed=facts.seed, prompt=facts.prompt, negative_prompt=facts.negative_prompt,
        all_seeds=tuple(state.seeds.all_seeds), steps=req.steps, cfg_scale=req.cfg_scale,
        sampler_name=state.sampler.name, scheduler=state.scheduler.name,
        scheduler_default=default.name if default is not None else None, styles=tuple(req.styles),
        model_hash=ctx.model_hash, model_name=ctx.model_name, job_timestamp=state.job_timestamp,
        batch_size=n, n_iter=req.n_iter, batch_index=index % n, iteration=index // n,
        clip_skip=int(ctx.settings["CLIP_stop_at_last_layers"]),
        denoising_strength=req.denoising_strength if req.mode == "img2img" else None,
        vae_file=ctx.vae_name)


def save_sample(state: "JobState", image: Image.Image, index: int, infotext: str, suffix: str = "") -> str:
    """Save image `index` of the job with its infotext; `suffix` marks intermediates
    ("-before-highres-fix", as A1111 names them)."""
    options = save_options(state)
    facts = state.facts(index)
    path, _ = save_image(image, samples_dir(state), "", seed=facts.seed, prompt=facts.prompt,
                         extension=options.samples_format, info=infotext, options=options,
                         context=filename_context(state, index), suffix=suffix)
    return str(path)


def save_grid(state: "JobState", images: list[Image.Image], infotext: str,
              save: bool = True) -> tuple[Image.Image, str | None]:
    """Make the grid of a job (grid first in the gallery) and save it unless told not to."""
    s = state.ctx.settings
    grid = image_grid(images, state.req.batch_size, n_rows=int(s["n_rows"]))
    grid.info["parameters"] = infotext
    if not save:
        return grid, None
    options = save_options(state)
    path, _ = save_image(grid, grids_dir(state), "grid", seed=state.seeds.all_seeds[0], prompt=state.prompt,
                         extension=options.grid_format, info=infotext, options=options,
                         context=filename_context(state, 0), grid=True,
                         short_filename=not options.grid_extended_filename)
    return grid, str(path)
