"""The built-in job features, registered once at start-up by the composition root.

Each feature lives in its own folder and exposes `register(runtime)`, which adds its job feature
(`runtime.features.register(...)`), model handles (`runtime.models.register(...)`) and hooks.
Adding a feature to the app is one line in `BUILTIN_FEATURE_REGISTRARS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Registrar = Callable[[Any], None]

# "module.path:function" of each built-in feature's registrar, in the order they run in a job.
BUILTIN_FEATURE_REGISTRARS: tuple[str, ...] = (
    "modules.networks.feature:register",
    "modules.hires.feature:register",
    "modules.refiner.feature:register",  # after hires: it continues the hires pass too
    "modules.restore_faces.feature:register",
    "modules.controlnet.register:register",
)


def register_builtin_features(runtime: Any) -> None:
    """Import and run every built-in registrar."""
    import importlib

    for entry in BUILTIN_FEATURE_REGISTRARS:
        module_name, _, function = entry.partition(":")
        registrar: Registrar = getattr(importlib.import_module(module_name), function or "register")
        registrar(runtime)
