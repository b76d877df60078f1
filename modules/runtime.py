"""The composition root: one `Runtime` per app, built from the flags, passed down explicitly.

It owns the settings, the checkpoint registry, the model cache, the sampler registry, the
styles, and the one job queue. UI and API call `submit()`/`generate()`; the engine receives an
`EngineContext` made here for each job, never the Runtime itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.console_log import job_summary
from modules.engine.context import APP_VERSION, EngineContext
from modules.engine.features import FeatureRegistry
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.request_fields import FieldTable
from modules.face_restoration.models import FaceModels
from modules.hashing import HashCache
from modules.hooks.host import HookHost
from modules.hooks.payloads import ModelLoaded
from modules.interrogate.service import build_interrogate_service
from modules.jobs.progress import JobControl, JobInterrupted
from modules.jobs.queue import Job, JobQueue
from modules.models.cache import ModelCache
from modules.models.memory import MemoryPolicy
from modules.models.registry import CheckpointInfo, CheckpointRegistry
from modules.networks.services import build_network_services
from modules.paths import Paths, paths_from_args
from modules.samplers.registry import SamplerRegistry
from modules.settings.runtime_checks import install_checks
from modules.settings.store import SettingsStore
from modules.styles import StyleDatabase
from modules.upscalers.catalog import UpscalerCatalog
from modules.upscalers.folders import upscaler_folders

log = logging.getLogger(__name__)


class NoCheckpointError(RuntimeError):
    """No checkpoint exists; the message tells the user where to put one."""


def preview_matrix(model: Any) -> torch.Tensor:
    """The live-preview projection of a model's latent space, computed again when its VAE changed."""
    from modules.engine.preview import fit_latent_rgb, latent_to_rgb_matrix

    matrix = model.derived.preview_matrix_for(model.vae)
    if matrix is None:
        if model.is_demo or model.latent_channels != 4:
            matrix = fit_latent_rgb(model.vae, model.vae_scaling_factor)
        else:
            matrix = latent_to_rgb_matrix(4, model.family.is_sdxl)
        model.derived.set_preview_matrix(model.vae, matrix)
    return matrix


def pick_device(args: argparse.Namespace) -> torch.device:
    if "all" in args.use_cpu or "sd" in args.use_cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(f"cuda:{args.device_id}" if args.device_id else "cuda")


def pick_dtype(args: argparse.Namespace, device: torch.device) -> torch.dtype:
    if device.type == "cpu" or args.no_half or args.precision == "full":
        return torch.float32
    return torch.float16


@dataclass
class Runtime:
    args: argparse.Namespace
    paths: Paths
    settings: SettingsStore
    hash_cache: HashCache
    checkpoints: CheckpointRegistry
    models: ModelCache
    samplers: SamplerRegistry
    styles: StyleDatabase
    queue: JobQueue
    device: torch.device
    dtype: torch.dtype
    version: str = APP_VERSION
    interrogator: Any = None  # modules.interrogate.service.InterrogateService
    warnings: list[str] = field(default_factory=list)
    features: FeatureRegistry = field(default_factory=FeatureRegistry)
    hooks: HookHost = field(default_factory=HookHost)
    # request parameters: built-in rows plus features' own (added at registration, before the app is built)
    request_fields: FieldTable = field(default_factory=FieldTable)
    networks: Any = None  # modules.networks.services.NetworkServices (LoRA, embeddings, VAE, hypernetworks)
    upscalers: UpscalerCatalog | None = None
    faces: FaceModels | None = None
    controlnet: Any = None  # ControlNetService (modules/controlnet), set by its registrar
    extensions: Any = None  # modules.extensions.host.ExtensionHost, set when extensions load
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _unloadable: set[Path] = field(default_factory=set)  # default candidates that failed to load

    # --- checkpoints -------------------------------------------------------------------
    def checkpoint_for(self, name: str | None) -> CheckpointInfo:
        """The checkpoint a job should use: an explicit name, the setting, or the first one."""
        wanted = name or self.settings.get("sd_model_checkpoint")
        if wanted:
            info = self.checkpoints.find(wanted)
            if info is None:
                raise LookupError(f"checkpoint {wanted!r} not found; GET /sdapi/v1/sd-models lists them, "
                                  "or press refresh after adding files")
            return info
        listed = self.checkpoints.list()
        if not listed:
            raise NoCheckpointError(
                f"no checkpoint found: put a .safetensors file into {self.paths.stable_diffusion_dir} "
                "and press the refresh button beside the checkpoint list")
        # The demo model is the fallback: the user's own checkpoints come first when they exist,
        # except files that already failed to load (a broken file sorted first must not win).
        usable = [c for c in listed if c.filename not in self._unloadable] or listed
        return next((c for c in usable if not c.is_demo), usable[0])

    def _load_default(self, first: CheckpointInfo) -> tuple[CheckpointInfo, Any]:
        """Load the default checkpoint; when it cannot be loaded, the next candidate (in the end
        the demo model) is really used, and the broken file is not tried again by default."""
        from modules.models.cache import ModelLoadError

        candidates = [first] + [c for c in self.checkpoints.list() if c is not first]
        first_error: ModelLoadError | None = None
        for info in candidates:
            if info.filename in self._unloadable:
                continue
            try:
                return info, self.load_checkpoint(info)
            except ModelLoadError as e:
                log.warning("default checkpoint %s could not be loaded (%s); trying the next one", info.title, e)
                self._unloadable.add(info.filename)
                first_error = first_error or e
        raise first_error or LookupError("no checkpoint could be loaded")

    def load_checkpoint(self, info: CheckpointInfo) -> Any:
        """Load (or reuse) a checkpoint; on failure the previous model stays loaded."""
        before = self.models.current
        model = self.models.get(info.filename, info.title, is_demo=info.is_demo)
        if model is not before:
            self.hooks.call("on_model_loaded", ModelLoaded(info.title, model))
        return model

    def select_checkpoint(self, name: str) -> CheckpointInfo:
        """Switch the default checkpoint (through the queue, so it never races a job)."""
        info = self.checkpoint_for(name)
        self.queue.run(lambda _c: self.load_checkpoint(info), kind="load")
        self.settings.update({"sd_model_checkpoint": info.title})
        return info

    # --- jobs --------------------------------------------------------------------------
    def engine_context(self, req: GenerationRequest) -> EngineContext:
        view = self.settings.view(req.override_settings)
        wanted = view.get("sd_model_checkpoint")
        info = self.checkpoint_for(wanted)
        info, model = (info, self.load_checkpoint(info)) if wanted else self._load_default(info)
        self.checkpoints.ensure_hash(info)
        vae_name, vae_hash = self._choose_vae(model, info, view.get("sd_vae"))
        from modules.refiner.switcher import RuntimePassModels
        with self.models.use("vae"):  # the demo's preview matrix is fitted with its VAE (on the device)
            matrix = preview_matrix(model)
        return EngineContext(
            model=model, model_name=info.filename.stem if info.filename.is_file() else info.model_name,
            model_hash=info.hash_short, settings=view, samplers=self.samplers, data_dir=self.paths.data_dir,
            device=self.device, styles=self.styles, version=self.version,
            preview_matrix=matrix, models=self.models, features=self.features.all(),
            hooks=self.hooks, checkpoints=RuntimePassModels(self, info, model, view.get("sd_vae")),
            extras={"allowed_output_dirs": allowed_output_dirs(self.args), "upscalers": self.upscalers},
            vae_name=vae_name, vae_hash=vae_hash, request_fields=self.request_fields.rows)

    def apply_vae_setting(self, model: Any, info: CheckpointInfo, setting: str | None) -> None:
        """The `sd_vae` choice for a checkpoint a pass switches to (a refiner, a hires checkpoint)."""
        self._choose_vae(model, info, setting)

    def _choose_vae(self, model: Any, info: CheckpointInfo, setting: str | None) -> tuple[str | None, str | None]:
        """Put the VAE the settings ask for into the model; returns infotext (VAE, VAE hash)."""
        if self.networks is None:
            return None, None
        from modules.networks.vae_choice import apply_vae

        choice = self.networks.vae.choose(setting, None if info.is_folder else info.filename)
        apply_vae(model, choice)
        if choice.path is None:
            return None, None
        return choice.name, None if self.args.no_hashing else self.networks.vae.short_hash(choice.path)

    def generate(self, req: GenerationRequest, control: JobControl) -> GenerationResult:
        """Run one request inside the worker thread; the console gets one line about it."""
        from modules.scripts import run_script

        ctx = self.engine_context(req)
        started = time.perf_counter()
        try:
            if self.extensions is not None:
                result = self.extensions.run_job(req, ctx, control, run_script)
            else:
                result = run_script(req, ctx, control)
        except JobInterrupted:
            log.info("%s %dx%d interrupted before its first image", req.mode, req.width, req.height)
            raise
        except Exception as e:
            log.error("%s %dx%d failed after %.1f s: %s", req.mode, req.width, req.height,
                      time.perf_counter() - started, e)
            raise
        log.info(job_summary(req, result, time.perf_counter() - started))
        self._remember_params(result)
        return result

    def _remember_params(self, result: GenerationResult) -> None:
        """params.txt: the last infotext, read by the ↙️ button on an empty prompt."""
        if result.infotexts and not self.args.no_prompt_history:
            try:
                from modules.settings.store import atomic_write_text

                atomic_write_text(self.paths.params_file, result.infotexts[result.index_of_first_image])
            except (OSError, IndexError):
                log.warning("could not write %s", self.paths.params_file)

    def submit(self, req: GenerationRequest) -> Job:
        return self.queue.submit(lambda control: self.generate(req, control), kind=req.mode, task_id=req.task_id)

    def submit_all(self, reqs: list[GenerationRequest], task_id: str | None = None) -> Job:
        """Several requests as one job under one task id (img2img Batch), so Interrupt stops all of
        them and Skip skips the current picture. The job's result is the list of results."""

        def run_all(control: JobControl) -> list[GenerationResult]:
            results = []
            for req in reqs:
                if control.interrupted:
                    break
                results.append(self.generate(req, control))
            return results

        kind = reqs[0].mode if reqs else "img2img"
        return self.queue.submit(run_all, kind=kind, task_id=task_id)

    def run(self, req: GenerationRequest, timeout: float | None = None) -> GenerationResult:
        return self.submit(req).wait(timeout)

    def shutdown(self) -> None:
        self.queue.stop()


def prefer_cmd_checkpoint(registry: CheckpointRegistry, settings: SettingsStore, files: tuple[Path, ...]) -> None:
    """`--ckpt FILE` is the model loaded at start, as in A1111, even over a saved
    sd_model_checkpoint (set in memory, written only when settings are next saved, like A1111)."""
    wanted = [f.resolve() for f in files if f.is_file()]
    info = next((i for i in registry.list() if wanted and i.filename.resolve() == wanted[0]), None)
    if info is not None:
        settings.update({"sd_model_checkpoint": info.title}, save=False)


def allowed_output_dirs(args: argparse.Namespace) -> tuple[Path, ...]:
    """Folders outside the data folder that `--allowed-output-dir` opened for output."""
    return tuple(Path(d).expanduser().resolve() for d in getattr(args, "allowed_output_dir", None) or ())


def build_runtime(args: argparse.Namespace) -> Runtime:
    """Wire every part together. Cheap: nothing heavy loads here (models load on first use)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    paths = paths_from_args(args)
    paths.ensure()
    settings = SettingsStore(paths.settings_file)
    hash_cache = HashCache(paths.cache_dir / "hashes.json")
    registry = CheckpointRegistry(
        search_dirs=list(paths.ckpt_dirs), extra_files=list(paths.ckpt_files),
        hash_cache=hash_cache, demo_checkpoint=paths.demo_model, hashing_enabled=not args.no_hashing)
    registry.refresh()
    prefer_cmd_checkpoint(registry, settings, paths.ckpt_files)
    device = pick_device(args)
    dtype = pick_dtype(args, device)
    policy = MemoryPolicy.from_flags(medvram=args.medvram, lowvram=args.lowvram, use_cpu=device.type == "cpu",
                                     no_half=args.no_half or args.precision == "full",
                                     no_half_vae=args.no_half_vae, device=str(device))
    models = ModelCache(policy, configs_dir=paths.configs_dir,
                        checkpoint_limit=lambda: int(settings.get("sd_checkpoints_limit", 1) or 1))
    preview_every = lambda: int(settings.get("show_progress_every_n_steps", 10)) if settings.get(  # noqa: E731
        "live_previews_enable", True) else 0
    runtime = Runtime(
        args=args, paths=paths, settings=settings, hash_cache=hash_cache, checkpoints=registry,
        models=models, samplers=SamplerRegistry(), styles=StyleDatabase(list(paths.styles_files)),
        queue=JobQueue(preview_every=preview_every, per_client=args.queue_per_client), device=device,
        dtype=dtype, warnings=[],
        upscalers=UpscalerCatalog(upscaler_folders(args, paths.models_dir), device, cache=models),
        faces=FaceModels.from_args(args, paths.models_dir, cache=models), networks=build_network_services(
            [paths.lora_dir, *([paths.demo_model.parent / "Lora"] if paths.demo_model else [])], hash_cache,
            [paths.embeddings_dir], list(paths.vae_dirs),
            Path(args.vae_path).expanduser().resolve() if args.vae_path else None,
            [Path(args.hypernetwork_dir).expanduser().resolve() if args.hypernetwork_dir
             else paths.models_dir / "hypernetworks"], list(paths.ckpt_dirs)))
    start_guards(runtime)
    from modules.engine.hook_feature import HookFeature
    from modules.features import register_builtin_features

    runtime.features.register(HookFeature(runtime.hooks))
    register_builtin_features(runtime)
    runtime.interrogator = build_interrogate_service(args, paths, settings, hash_cache, device, models)
    if not args.no_hashing:
        registry.start_background_hashing()
    return runtime


def start_guards(runtime: Runtime) -> None:
    """Checks that need the whole runtime: settings rules about folders and samplers, start-up
    warnings for the UI, and removing temp files that interrupted image saves left behind."""
    from modules.images.saving import remove_stale_temps

    install_checks(runtime.settings, runtime.paths.data_dir, allowed_output_dirs(runtime.args),
                   [s.name for s in runtime.samplers.list()])
    runtime.warnings[:] = list(runtime.settings.warnings) + list(runtime.styles.load_errors)
    roots = [runtime.paths.outputs_dir, runtime.paths.log_images_dir.parent]
    started = time.time()
    threading.Thread(target=lambda: [remove_stale_temps(r, started) for r in roots if r.is_dir()],
                     name="temp-sweep", daemon=True).start()
