"""The model cache: one loaded checkpoint at a time, governed by a MemoryPolicy.

A switch first moves the current model off the accelerator (to make room), then loads the new one;
only when that succeeded is the old model dropped and its memory returned. If the new checkpoint
fails, the old one is put back where it was and stays current, and the error says so — a broken
download never leaves the UI without a model.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from modules.models.memory import MemoryPolicy, release_freed_memory
from modules.models.sd_model import LoadedModel

log = logging.getLogger(__name__)

Loader = Callable[..., LoadedModel]


class ModelLoadError(Exception):
    """Loading a checkpoint failed; `kept` is the title of the model that stays loaded, if any."""

    def __init__(self, message: str, kept: str | None = None) -> None:
        super().__init__(message)
        self.kept = kept


def _default_loader(path: Path, **kwargs: Any) -> LoadedModel:
    from modules.models.loader import load_checkpoint

    return load_checkpoint(path, **kwargs)


def _component_modules(model: LoadedModel, component: str) -> list[torch.nn.Module]:
    if component == "text_encoders":
        return [b.model for b in model.text_encoders]
    return [getattr(model, component)]


def place(model: LoadedModel, component: str, device: torch.device) -> None:
    """Move one component (all its modules) to a device."""
    for module in _component_modules(model, component):
        module.to(device)


class ModelCache:
    """Owns the current LoadedModel; loads on demand and frees on switch."""

    def __init__(
        self, policy: MemoryPolicy, *, configs_dir: Path | None = None, loader: Loader | None = None
    ) -> None:
        self.policy = policy
        self.configs_dir = configs_dir
        self._loader = loader or _default_loader
        self._current: LoadedModel | None = None
        self._on_device: str | None = None
        self._lock = threading.RLock()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def get(self, checkpoint_path: Path, title: str = "", *, is_demo: bool = False) -> LoadedModel:
        """The model for this checkpoint, loading it (and dropping the previous one) if needed."""
        path = Path(checkpoint_path)
        with self._lock:
            if self._current is not None and _same_file(self._current.source_path, path):
                return self._current
            return self._switch(path, title, is_demo)

    def _switch(self, path: Path, title: str, is_demo: bool) -> LoadedModel:
        previous = self._current
        started = time.perf_counter()
        log.info("Loading checkpoint %s%s", title or path.name,
                 f" (replacing {previous.title or previous.source_path})" if previous is not None else "")
        if previous is not None:
            self._offload(previous)
        try:
            model = self._load(path, title, is_demo)
        except Exception as err:
            if previous is not None:
                self._restore(previous)
            kept = previous.title if previous is not None else None
            note = f" '{kept}' stays loaded." if kept else ""
            reason = str(err).rstrip(". ")
            detail = reason if str(path) in reason else f"'{path}': {reason}"  # name the file once
            log.error("Could not load checkpoint: %s.%s", detail, note)
            raise ModelLoadError(f"Could not load checkpoint {detail}.{note}", kept=kept) from err
        self._current, self._on_device = model, None
        self._drop(previous)
        log.info("Model loaded in %.1f s: %s", time.perf_counter() - started, title or path.name)
        return model

    @staticmethod
    def _drop(previous: LoadedModel | None) -> None:
        """Free a replaced model. Refcounting frees it at once unless something holds a cycle;
        only then is the (0.3 s+) full garbage collection worth running."""
        probe = weakref.ref(previous.unet) if previous is not None and previous.unet is not None else None
        del previous
        release_freed_memory(collect_garbage=probe is not None and probe() is not None)

    def _load(self, path: Path, title: str, is_demo: bool) -> LoadedModel:
        policy = self.policy
        model = self._loader(
            path,
            device=policy.storage_device("unet"),
            dtype=policy.dtype("unet"),
            vae_dtype=policy.dtype("vae"),
            configs_dir=self.configs_dir,
            title=title,
            is_demo=is_demo,
        )
        return model

    def _offload(self, model: LoadedModel) -> None:
        """Make room on the accelerator before a load; a no-op when everything lives on the CPU."""
        if self.policy.compute_device.type == "cpu":
            return
        for component in ("unet", "vae", "text_encoders"):
            place(model, component, torch.device("cpu"))
        release_freed_memory()

    def _restore(self, model: LoadedModel) -> None:
        for component in ("unet", "vae", "text_encoders"):
            place(model, component, self.policy.storage_device(component))
        self._on_device = None

    def unload(self) -> None:
        """Drop the current model and give its memory back."""
        with self._lock:
            self._current, self._on_device = None, None
            release_freed_memory()

    def reload(self) -> LoadedModel:
        """Load the current checkpoint again from disk (e.g. after it changed, or to undo a VAE swap)."""
        with self._lock:
            model = self._current
            if model is None or model.source_path is None:
                raise ModelLoadError("No checkpoint is loaded, so there is nothing to reload.")
            path, title, is_demo = model.source_path, model.title, model.is_demo
            return self._switch(path, title, is_demo)

    @contextmanager
    def use(self, component: str) -> Iterator[Any]:
        """Scope in which one component runs; under medvram/lowvram it alone sits on the GPU.

        Yields the component (the UNet, the VAE, or the list of TextEncoderBundles). The component
        stays on the GPU after the scope, like A1111's swapping, until another one is needed.
        """
        with self._lock:
            model = self._current
            if model is None:
                raise ModelLoadError("No checkpoint is loaded; choose one in the checkpoint list first.")
            self.policy.storage_device(component)  # validates the name
            if self.policy.swaps and self._on_device != component:
                self._swap_in(model, component)
        yield model.text_encoders if component == "text_encoders" else getattr(model, component)

    def _swap_in(self, model: LoadedModel, component: str) -> None:
        if self._on_device is not None:
            place(model, self._on_device, torch.device("cpu"))
        place(model, component, self.policy.compute_device)
        self._on_device = component

    @property
    def resident(self) -> str | None:
        """Under medvram/lowvram, the component currently on the compute device (None: none yet)."""
        return self._on_device

    def device_of(self, component: str) -> torch.device:
        """Where a component of the current model is right now (for tests and diagnostics)."""
        model = self._current
        if model is None:
            raise ModelLoadError("No checkpoint is loaded.")
        return next(_component_modules(model, component)[0].parameters()).device


def _same_file(a: Path | None, b: Path) -> bool:
    if a is None:
        return False
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b
