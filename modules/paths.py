"""Where everything lives, computed once from the flags.

`--data-dir` moves all user data (models, outputs, settings, extensions); `--models-dir`
moves only the models. The app's own files (configs, the demo model) always come from the
install folder, so they are found whatever the user's folders are.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL_FILE = APP_ROOT / "models-demo" / "demo-shapes.safetensors"


@dataclass(frozen=True)
class Paths:
    """Folders and files of one running app."""

    app_root: Path
    data_dir: Path
    models_dir: Path
    ckpt_dirs: tuple[Path, ...]
    ckpt_files: tuple[Path, ...]
    vae_dirs: tuple[Path, ...]
    lora_dir: Path
    embeddings_dir: Path
    controlnet_dir: Path
    annotator_dir: Path
    esrgan_dir: Path
    extensions_dir: Path
    outputs_dir: Path
    configs_dir: Path
    cache_dir: Path
    tmp_dir: Path
    settings_file: Path
    ui_config_file: Path
    styles_files: tuple[Path, ...]
    params_file: Path
    log_images_dir: Path
    demo_model: Path | None

    @property
    def stable_diffusion_dir(self) -> Path:
        return self.ckpt_dirs[0]

    def ensure(self) -> None:
        """Create the user folders A1111 users expect to find (cheap, idempotent)."""
        for d in (self.stable_diffusion_dir, self.vae_dirs[0], self.lora_dir, self.embeddings_dir,
                  self.controlnet_dir, self.esrgan_dir, self.extensions_dir, self.outputs_dir, self.cache_dir):
            d.mkdir(parents=True, exist_ok=True)


def _opt(value: str | None) -> Path | None:
    return Path(value).expanduser().resolve() if value else None


def paths_from_args(ns: argparse.Namespace, app_root: Path = APP_ROOT) -> Paths:
    """Resolve every folder from flags, with A1111's defaults under the data dir."""
    data = _opt(ns.data_dir) or app_root
    models = _opt(ns.models_dir) or data / "models"
    ckpt_dirs = [models / "Stable-diffusion"]
    if ns.ckpt_dir:
        ckpt_dirs.append(_opt(ns.ckpt_dir))
    vae_dirs = [models / "VAE"] + ([_opt(ns.vae_dir)] if ns.vae_dir else [])
    styles = tuple(Path(s) for s in ns.styles_file) if ns.styles_file else (data / "styles.csv",)
    demo = DEMO_MODEL_FILE if (not ns.no_demo_model and DEMO_MODEL_FILE.exists()) else None
    return Paths(
        app_root=app_root,
        data_dir=data,
        models_dir=models,
        ckpt_dirs=tuple(ckpt_dirs),
        ckpt_files=tuple(p for p in [_opt(ns.ckpt)] if p is not None),
        vae_dirs=tuple(vae_dirs),
        lora_dir=_opt(ns.lora_dir) or models / "Lora",
        embeddings_dir=_opt(ns.embeddings_dir) or data / "embeddings",
        controlnet_dir=_opt(ns.controlnet_dir) or models / "ControlNet",
        annotator_dir=_opt(getattr(ns, "controlnet_annotator_models_path", None)) or models / "annotator",
        esrgan_dir=_opt(ns.esrgan_models_path) or models / "ESRGAN",
        extensions_dir=data / "extensions",
        outputs_dir=data / "outputs",
        configs_dir=app_root / "configs",
        cache_dir=data / "cache",
        tmp_dir=data / "tmp",
        settings_file=_opt(ns.ui_settings_file) or data / "config.json",
        ui_config_file=_opt(ns.ui_config_file) or data / "ui-config.json",
        styles_files=styles,
        params_file=data / "params.txt",
        log_images_dir=data / "log" / "images",
        demo_model=demo,
    )
