"""The Runtime's `PassModels`: resolve checkpoint names for a pass and make a checkpoint current.

Loading goes through `Runtime.load_checkpoint` (the model cache: the current model moves aside
— to the CPU — before the next one is placed; replaced checkpoints stay in RAM per the
`sd_checkpoints_limit` setting). The job's selected checkpoint is pinned in RAM for the job and
made current again when the job ends, as A1111 restores the selected model.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modules.engine.pass_models import SAME_CHECKPOINT, CheckpointRef, check_same_latents
from modules.engine.validation import InvalidRequestError
from modules.model_types import ModelFamily

MAX_HEADER = 100 * 1024 * 1024
MAX_LISTED = 20


def peek_family(path: Path) -> ModelFamily | None:
    """The family of a single-file .safetensors checkpoint from its header alone (no weights read);
    None when it cannot be told before loading (a .ckpt, a diffusers folder, an odd file)."""
    from modules.models.detection import detect_family

    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            size = struct.unpack("<Q", fh.read(8))[0]
            if size > MAX_HEADER:
                return None
            header = json.loads(fh.read(size))
        shapes = {k: SimpleNamespace(shape=tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}
        return detect_family(shapes)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - an unreadable header only means "check after loading"
        return None


def installed_titles(runtime: Any) -> str:
    titles = [c.title for c in runtime.checkpoints.list()]
    shown = ", ".join(titles[:MAX_LISTED]) + (f" and {len(titles) - MAX_LISTED} more" if len(titles) > MAX_LISTED
                                              else "")
    return shown or "none"


API_HINT = " (GET /sdapi/v1/sd-models lists them)"
UI_HINT = "; choose one from the list"
UI_LABELS = {"refiner_checkpoint": "Refiner checkpoint", "hr_checkpoint_name": "Hires checkpoint"}


def resolve_checkpoint(runtime: Any, name: str, field: str, hint: str = API_HINT) -> Any:
    """The CheckpointInfo a user's name means (name, name [hash], title, hash), or a 4xx-worthy error."""
    info = runtime.checkpoints.find(str(name))
    if info is None:
        raise InvalidRequestError(f"{field}: checkpoint {name!r} not found; installed: {installed_titles(runtime)}"
                                  f"{hint}")
    return info


class RuntimePassModels:
    """One job's view of the checkpoints: `selected` is the job's model (`model`)."""

    def __init__(self, runtime: Any, selected_info: Any, model: Any, sd_vae: str | None = None,
                 hash_names: bool = True, hint: str = API_HINT) -> None:
        self.runtime, self.info, self.model, self.sd_vae = runtime, selected_info, model, sd_vae
        self.hint = hint
        self.hash_names = hash_names  # False when only checking a request (no file hashing in the handler)
        self._by_title: dict[str, Any] = {selected_info.title: selected_info}

    @property
    def family(self) -> ModelFamily | None:
        """The selected checkpoint's family (read from its header when it is not loaded yet)."""
        if self.model is not None:
            return self.model.family
        current = self.runtime.models.current
        if current is not None and current.source_path is not None and Path(current.source_path) == self.info.filename:
            return current.family
        return peek_family(self.info.filename)

    @property
    def selected(self) -> CheckpointRef:
        return CheckpointRef(self.info.title, self.info.short_title, self.family)

    def resolve(self, name: str | None, field: str) -> CheckpointRef | None:
        if name is None or str(name).strip() in SAME_CHECKPOINT:
            return None
        info = resolve_checkpoint(self.runtime, str(name).strip(), field, self.hint)
        if info is self.info or info.filename == self.info.filename:
            return None
        if self.hash_names:
            self.runtime.checkpoints.ensure_hash(info)  # the short title in the infotext carries the hash
        family, selected = peek_family(info.filename), self.family
        if family is not None and selected is not None:
            check_same_latents(selected, family, field, self.info.title, info.title)
        self._by_title[info.title] = info
        return CheckpointRef(info.title, info.short_title, family)

    def activate(self, title: str | None) -> Any:
        info = self.info if title is None else self._by_title.get(title) or resolve_checkpoint(
            self.runtime, title, "checkpoint")
        model = self.runtime.load_checkpoint(info)
        if info is not self.info:
            check_same_latents(self.model.family, model.family, "checkpoint", self.info.title, info.title)
            self.runtime.apply_vae_setting(model, info, self.sd_vae)
        return model

    @contextmanager
    def job_scope(self) -> Iterator[None]:
        cache = self.runtime.models
        with cache.pinned(self.info.filename):
            try:
                yield
            finally:
                if cache.current is not self.model:
                    self.runtime.load_checkpoint(self.info)


def check_request_checkpoints(runtime: Any, req: Any, selected_info: Any, ui: bool = False) -> None:
    """Before a job is queued (API 4xx, UI message): the hires and refiner checkpoints exist, have
    the selected checkpoint's latents, and `refiner_switch_at` is in range. `ui`: messages name the
    widgets instead of the API fields."""
    from modules.refiner.feature import switch_at, wants_refiner

    models = RuntimePassModels(runtime, selected_info, None, hash_names=False, hint=UI_HINT if ui else API_HINT)
    label = (lambda f: UI_LABELS[f]) if ui else (lambda f: f)  # noqa: E731
    if getattr(req, "enable_hr", False) and req.mode == "txt2img":
        models.resolve(req.hr_checkpoint_name, label("hr_checkpoint_name"))
    if wants_refiner(req):
        switch_at(req)
        models.resolve(req.refiner_checkpoint, label("refiner_checkpoint"))
