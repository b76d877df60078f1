"""What one job needs from the running app, gathered by the Runtime before the job starts.

The engine reads only this: no globals, no UI objects. Settings are a read-only view that
already includes the request's `override_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.models.sd_model import LoadedModel
from modules.settings.store import SettingsView

APP_VERSION = "sdui-0.1.0"  # deliberately not "vX.Y.Z": A1111 would treat that as an old version on paste


@dataclass
class EngineContext:
    model: LoadedModel
    model_name: str  # checkpoint file stem, for infotext "Model"
    model_hash: str | None  # sha256[:10], for infotext "Model hash"; None with --no-hashing
    settings: SettingsView
    samplers: Any  # modules.samplers.registry.SamplerRegistry
    data_dir: Path
    device: torch.device
    styles: Any = None  # modules.styles.StyleDatabase
    embeddings: Any = None  # textual-inversion lookup when no feature contributes one
    vae_name: str | None = None
    vae_hash: str | None = None
    version: str = APP_VERSION
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. "save_flags" for saving
    preview_matrix: Any = None  # (C, 3) latent -> RGB projection for live previews; None: no previews
    models: Any = None  # the ModelCache (None in engine tests: patches then apply without placement)
    features: tuple[Any, ...] = ()  # JobFeatures (modules/engine/features.py), in registration order
    hooks: Any = None  # the HookHost (modules/hooks/host.py)
    checkpoints: Any = None  # PassModels (engine/pass_models.py): passes on another checkpoint (refiner)
    request_fields: tuple[Any, ...] = ()  # the app's field-table rows (RequestField); (): the built-in table
