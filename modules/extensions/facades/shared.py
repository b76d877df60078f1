"""`modules.shared`: opts (attribute access over the settings store), OptionInfo, cmd_opts,
state, sd_model."""

from __future__ import annotations

import argparse
from typing import Any

from modules.extensions.facades.importer import FacadeModule, missing
from modules.settings.schema import OptionInfo as OurOptionInfo

# gradio component class name -> our settings widget kind
_COMPONENTS = {"Checkbox": "checkbox", "Slider": "slider", "Number": "number", "Textbox": "textbox",
               "Radio": "radio", "Dropdown": "dropdown"}


class OptionInfo:
    """A1111's OptionInfo(default, label, component, component_args, onchange, section=(id, title))."""

    def __init__(self, default: Any = None, label: str = "", component: Any = None, component_args: Any = None,
                 onchange: Any = None, section: Any = None, refresh: Any = None, comment_before: str = "",
                 comment_after: str = "", infotext: str | None = None, restrict_api: bool = False,
                 category_id: str | None = None) -> None:
        self.default, self.label, self.component = default, label, component
        self.component_args, self.onchange, self.section = component_args, onchange, section
        self.infotext = infotext

    def info(self, text: str) -> "OptionInfo":
        self.comment_after = text
        return self

    def needs_reload_ui(self) -> "OptionInfo":
        return self

    needs_restart = needs_reload_ui
    html = info
    link = lambda self, *a, **k: self  # noqa: E731

    def to_ours(self, default_section: tuple[str, str]) -> OurOptionInfo:
        args = self.component_args() if callable(self.component_args) else dict(self.component_args or {})
        kind = _COMPONENTS.get(getattr(self.component, "__name__", ""), "auto")
        section = self.section if isinstance(self.section, tuple) and len(self.section) >= 2 else default_section
        choices = args.get("choices")
        return OurOptionInfo(self.default, self.label, section[0], kind, args.get("minimum"), args.get("maximum"),
                             args.get("step"), tuple(choices) if choices else None, self.infotext,
                             extra={"section_title": section[1]})


class Options:
    """`shared.opts`: settings by attribute (`opts.samples_format`), `.data`, `add_option`, `save`."""

    def __init__(self, store: Any, owner: str) -> None:
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_owner", owner)

    @property
    def data(self) -> dict[str, Any]:
        return self._store.snapshot()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = self._store.get(name, _ABSENT)
        if value is _ABSENT:
            raise AttributeError(f"shared.opts has no setting {name!r}")
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        self._store.update({name: value})

    def add_option(self, key: str, info: OptionInfo) -> None:
        self._store.add_option(key, info.to_ours((f"ext-{self._owner}", self._owner)))

    def get_default(self, key: str) -> Any:
        info = self._store.schema.get(key)
        return None if info is None else info.default

    def set(self, key: str, value: Any, is_api: bool = False, run_callbacks: bool = True) -> bool:
        self._store.update({key: value})
        return True

    def save(self, filename: str | None = None) -> None:
        self._store.save()

    def onchange(self, key: str, func: Any, call: bool = True) -> None:
        if call:
            func()


_ABSENT = object()


class State:
    """`shared.state`: what a script may read about the running job."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.textinfo = None

    @property
    def interrupted(self) -> bool:
        job = self._runtime.queue.current() if hasattr(self._runtime.queue, "current") else None
        return bool(job is not None and getattr(job.control, "interrupted", False))

    skipped = False

    def interrupt(self) -> None:
        job = self._runtime.queue.current() if hasattr(self._runtime.queue, "current") else None
        if job is not None:
            job.control.interrupt()


class SharedModule(FacadeModule):
    def __init__(self, runtime: Any, owner: str) -> None:
        super().__init__("modules.shared")
        self._runtime = runtime
        self.opts = Options(runtime.settings, owner)
        self.OptionInfo = OptionInfo
        self.cmd_opts = cmd_opts(runtime)
        self.state = State(runtime)
        self.models_path = str(runtime.paths.models_dir)
        self.device = runtime.device

    @property
    def sd_model(self) -> Any:
        current = self._runtime.models.current
        if current is None:
            raise missing("modules.shared", "sd_model (no model is loaded yet)")
        from modules.extensions.facades.sd_model import SdModel

        info = self._runtime.checkpoints.find(current.title) if current.title else None
        return SdModel(current, info.stem if info is not None else None, info.hash_short if info is not None else None)


def cmd_opts(runtime: Any) -> argparse.Namespace:
    """The parsed flags (a copy), with A1111's folder flags that default to a folder filled with
    the folder this app uses (extensions build paths from them: `Path(cmd_opts.lora_dir)`)."""
    ns = argparse.Namespace(**vars(runtime.args))
    paths = runtime.paths
    folders = {"embeddings_dir": paths.embeddings_dir, "lora_dir": paths.lora_dir,
               "hypernetwork_dir": paths.models_dir / "hypernetworks", "data_dir": paths.data_dir,
               "models_dir": paths.models_dir}
    for name, folder in folders.items():
        if getattr(ns, name, None) is None:
            setattr(ns, name, str(folder))
    return ns


def build(runtime: Any, owner: str) -> SharedModule:
    return SharedModule(runtime, owner)
