"""The model cache: one current checkpoint, governed by a MemoryPolicy.

A switch first moves the current model off the accelerator (to make room), then loads the new one;
only when that succeeded is the old model dropped and its memory returned. If the new checkpoint
fails, the old one is put back where it was and stays current, and the error says so — a broken
download never leaves the UI without a model.

With `checkpoint_limit() > 1` (the `sd_checkpoints_limit` setting) replaced checkpoints stay in
RAM, on the CPU, least recently used dropped first, so a job that switches models between passes
(a refiner, a hires checkpoint) and back does not read the files again each time.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from modules.models.handles import CHECKPOINT_PARTS, ModelHandle, Placer, TorchPlacer
from modules.models.memory import MemoryPolicy, release_freed_memory
from modules.models.patches import PartSlots, PatchSet, applied
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
    TorchPlacer().move(component, _component_modules(model, component), device)


class ModelCache:
    """Owns the current LoadedModel; loads on demand and frees on switch."""

    def __init__(
        self, policy: MemoryPolicy, *, configs_dir: Path | None = None, loader: Loader | None = None,
        placer: Placer | None = None, ram_budget_bytes: int | None = None,
        device_budget_bytes: int | None = None, checkpoint_limit: Callable[[], int] | None = None,
    ) -> None:
        self.policy = policy
        self.configs_dir = configs_dir
        self.placer: Placer = placer or TorchPlacer()
        self.ram_budget_bytes = ram_budget_bytes
        self.device_budget_bytes = device_budget_bytes  # for handles on the device (normal mode)
        self._loader = loader or _default_loader
        self._current: LoadedModel | None = None
        self.checkpoint_limit: Callable[[], int] = checkpoint_limit or (lambda: 1)
        self._kept: OrderedDict[Path, LoadedModel] = OrderedDict()  # replaced checkpoints kept in RAM
        self._pinned: list[Path] = []  # kept in RAM whatever the limit (a job's selected checkpoint)
        self._on_device: list[str] = []  # under medvram/lowvram: the parts on the compute device
        self._handles: OrderedDict[str, ModelHandle] = OrderedDict()
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
            kept = self._take_kept(path)
            if kept is not None:
                return self._make_current(kept)
            return self._switch(path, title, is_demo)

    def _take_kept(self, path: Path) -> LoadedModel | None:
        for key in list(self._kept):
            if _same_file(key, path):
                return self._kept.pop(key)
        return None

    def _make_current(self, model: LoadedModel) -> LoadedModel:
        """Switch to a checkpoint kept in RAM: the current one moves aside first (to the CPU)."""
        previous = self._current
        log.info("Switching to checkpoint %s (kept in RAM)", model.title or model.source_path)
        if previous is not None:
            self._offload(previous)
        self._restore(model)
        self._current = model
        self._keep(previous)
        return model

    def _keep(self, previous: LoadedModel | None) -> None:
        """Keep a replaced checkpoint in RAM while the limit allows; drop the least recently used."""
        if previous is None:
            return
        path = previous.source_path
        same = self._current is not None and path is not None and _same_file(self._current.source_path, path)
        if path is None or same:
            self._drop(previous)
            return
        self._kept[path] = previous
        self._kept.move_to_end(path)
        self._trim_kept()

    def _trim_kept(self) -> None:
        """Drop least recently used kept checkpoints beyond `checkpoint_limit() - 1` (pinned ones stay)."""
        room = max(0, int(self.checkpoint_limit()) - 1)
        for path in list(self._kept):
            if len(self._kept) <= room:
                break
            if any(_same_file(path, p) for p in self._pinned):
                continue
            self._drop(self._kept.pop(path))

    @contextmanager
    def pinned(self, path: Path | None) -> Iterator[None]:
        """Keep this checkpoint in RAM while the block runs, even when another one becomes current
        (a job that switches models for a pass comes back to it without reading the file again)."""
        if path is None:
            yield
            return
        with self._lock:
            self._pinned.append(Path(path))
        try:
            yield
        finally:
            with self._lock:
                self._pinned.remove(Path(path))
                self._trim_kept()

    def kept_checkpoints(self) -> list[Path]:
        """Paths of the replaced checkpoints kept in RAM (least recently used first)."""
        return list(self._kept)

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
        self._current, self._on_device = model, []
        self._keep(previous)
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
            self.placer.move(component, _component_modules(model, component), torch.device("cpu"))
        self._on_device = [k for k in self._on_device if k not in CHECKPOINT_PARTS]
        release_freed_memory()

    def _restore(self, model: LoadedModel) -> None:
        if self.policy.compute_device.type != "cpu":
            for component in ("unet", "vae", "text_encoders"):
                device = self.policy.storage_device(component)
                if device.type != "cpu":
                    self.placer.move(component, _component_modules(model, component), device)
        self._on_device = [k for k in self._on_device if k not in CHECKPOINT_PARTS]

    def unload(self) -> None:
        """Drop the current model and give its memory back."""
        with self._lock:
            self._current, self._on_device = None, []
            self._kept.clear()
            release_freed_memory()

    def reload(self) -> LoadedModel:
        """Load the current checkpoint again from disk (e.g. after it changed, or to undo a VAE swap)."""
        with self._lock:
            model = self._current
            if model is None or model.source_path is None:
                raise ModelLoadError("No checkpoint is loaded, so there is nothing to reload.")
            path, title, is_demo = model.source_path, model.title, model.is_demo
            return self._switch(path, title, is_demo)

    # --- handles -----------------------------------------------------------------------
    def register(self, handle: ModelHandle) -> ModelHandle:
        """Add a model handle (idempotent per key: the first registration wins)."""
        if handle.key in CHECKPOINT_PARTS:
            raise ValueError(f"'{handle.key}' is a checkpoint part name; give the handle its own key")
        with self._lock:
            return self._handles.setdefault(handle.key, handle)

    def handle(self, key: str) -> ModelHandle | None:
        return self._handles.get(key)

    def release(self, key: str) -> None:
        """Drop a handle's loaded model from the device and RAM (it reloads on its next use)."""
        with self._lock:
            handle = self._require_handle(key)
            if key in self._on_device:
                self._on_device.remove(key)
            handle.module = None
        release_freed_memory()

    def module(self, key: str) -> Any:
        """The loaded model behind a handle key (loaded now if needed) or a checkpoint part."""
        with self._lock:
            if key in CHECKPOINT_PARTS:
                return self._part(key)
            handle = self._require_handle(key)
            loaded = handle.loaded
            module = handle.ensure_loaded()
            if not loaded:
                self._handles.move_to_end(key)
                self._enforce_ram_budget(keep={key})
            return module

    def _require_handle(self, key: str) -> ModelHandle:
        handle = self._handles.get(key)
        if handle is None:
            raise ValueError(f"Unknown model component '{key}'; expected one of {', '.join(CHECKPOINT_PARTS)} "
                             "or the key of a registered model handle")
        return handle

    def _enforce_ram_budget(self, keep: set[str]) -> None:
        """Drop least recently used handle models until the loaded ones fit the RAM budget."""
        if self.ram_budget_bytes is None:
            return
        loaded = [h for h in self._handles.values() if h.loaded]
        total = sum(h.size_bytes or 0 for h in loaded)
        for h in sorted(loaded, key=lambda h: h.last_used):
            if total <= self.ram_budget_bytes:
                break
            if h.key in keep:
                continue
            total -= h.size_bytes or 0
            h.module = None
            if h.key in self._on_device:
                self._on_device.remove(h.key)
        release_freed_memory(collect_garbage=False)

    # --- parts and placement --------------------------------------------------------------
    def _part(self, key: str) -> Any:
        model = self._current
        if key in CHECKPOINT_PARTS:
            if model is None:
                raise ModelLoadError("No checkpoint is loaded; choose one in the checkpoint list first.")
            return getattr(model, key)
        handle = self._require_handle(key)
        return handle.module if handle.loaded else self.module(key)  # placement does not count as use

    def _set_part(self, key: str, value: Any) -> None:
        if key in CHECKPOINT_PARTS:
            setattr(self._current, key, value)
        else:
            self._require_handle(key).module = value

    def _modules_of(self, key: str) -> list[Any]:
        part = self._part(key)
        if key == "text_encoders":
            return [b.model for b in part]
        return [part]

    def _check_key(self, key: str) -> None:
        if key in CHECKPOINT_PARTS:
            self.policy.storage_device(key)
        else:
            self._require_handle(key)

    def _make_room_for_handles(self, keys: list[str], memory_required: int) -> None:
        """Normal mode: move least recently used handles off the device until the handles needed
        now (and `memory_required`) fit the device budget — before anything new is loaded there."""
        if self.device_budget_bytes is None:
            return
        needed = sum(self._handles[k].size_bytes or 0 for k in keys if k in self._handles) + memory_required
        resident = [self._handles[k] for k in self._on_device if k in self._handles and k not in keys]
        used = sum(h.size_bytes or 0 for h in resident)
        for handle in sorted(resident, key=lambda h: h.last_used):
            if used + needed <= self.device_budget_bytes:
                break
            self.placer.move(handle.key, self._modules_of(handle.key), torch.device("cpu"))
            self._on_device.remove(handle.key)
            used -= handle.size_bytes or 0

    def _place(self, keys: list[str], memory_required: int = 0) -> None:
        """Make room, then place: under medvram/lowvram every part not needed now goes back to the
        CPU *before* the needed ones come onto the device; otherwise handles join the device."""
        device = self.policy.compute_device
        if self.policy.swaps:
            for key in [k for k in self._on_device if k not in keys]:
                self.placer.move(key, self._modules_of(key), torch.device("cpu"))
                self._on_device.remove(key)
            for key in keys:
                if key not in self._on_device:
                    self.placer.move(key, self._modules_of(key), device)
                    self._on_device.append(key)
            return
        self._make_room_for_handles(keys, memory_required)
        for key in keys:
            if key not in CHECKPOINT_PARTS and key not in self._on_device:
                self.placer.move(key, self._modules_of(key), device)
                self._on_device.append(key)

    @contextmanager
    def use(self, parts: str | Sequence[str], *, patches: Sequence[PatchSet] = (), extra: Sequence[str] = (),
            memory_required: int = 0) -> Iterator[Any]:
        """The scope of one stage: make room, place `parts` (+ `extra`) on the compute device,
        apply the patches that target them, yield, undo the patches.

        With one part name it yields that part (the UNet, the VAE, or the list of
        TextEncoderBundles); with a sequence, a dict key -> part. Parts stay on the device after
        the scope (like A1111's swapping) until another stage needs the room. `memory_required`
        (bytes of activations the stage expects) frees the CUDA cache first when it is large.
        """
        keys = [parts] if isinstance(parts, str) else list(parts)
        keys += [k for k in extra if k not in keys]
        with self._lock:
            for key in keys:
                self._check_key(key)
            for key in keys:
                if key in CHECKPOINT_PARTS:
                    self._part(key)
                else:
                    self.module(key)
            self._place(keys, memory_required)
            if memory_required and self.policy.compute_device.type == "cuda":
                release_freed_memory(collect_garbage=False)
        with applied(PartSlots(self._part, self._set_part), patches, only=set(keys)):
            if any(r.target in keys and not r.path for p in patches for r in p.replacements):
                with self._lock:
                    self._place(keys)  # a swapped-in whole part (a VAE swap) must be placed as well
            yield self._part(keys[0]) if isinstance(parts, str) else {k: self._part(k) for k in keys}

    @contextmanager
    def borrow(self, key: str) -> Iterator[Any]:
        """A handle's model on the compute device for this scope only, back on the CPU after.

        For a model used briefly inside another stage's scope (a Low VRAM ControlNet unit, run
        for one UNet call): unlike `use`, nothing else is moved off the device to make room, and
        a model that was already placed (by `use`) stays where it is.
        """
        with self._lock:
            self._require_handle(key)  # checkpoint parts are placed by `use` only
            module = self.module(key)
            placed_here = key not in self._on_device
            if placed_here:
                self.placer.move(key, self._modules_of(key), self.policy.compute_device)
        try:
            yield module
        finally:
            if placed_here:
                with self._lock:
                    self.placer.move(key, self._modules_of(key), torch.device("cpu"))

    def offload(self, key: str) -> None:
        """Move a handle's model from the compute device to the CPU, keeping it loaded (for A1111's
        "move ... from VRAM into RAM after processing" settings); nothing happens when it is not loaded."""
        with self._lock:
            handle = self._require_handle(key)
            if not handle.loaded:
                return
            self.placer.move(key, self._modules_of(key), torch.device("cpu"))
            if key in self._on_device:
                self._on_device.remove(key)
        release_freed_memory(collect_garbage=False)

    @property
    def resident(self) -> str | None:
        """Under medvram/lowvram, the part(s) on the compute device now (None: none yet)."""
        return ",".join(self._on_device) or None

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
