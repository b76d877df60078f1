"""`modules.scripts`: the A1111 Script base class and the sentinel `AlwaysVisible`.

One class for every extension (so `issubclass(x, Script)` finds scripts in any extension);
the per-extension module (`build`) adds `basedir()` bound to that extension's folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modules.extensions.facades.importer import FacadeModule


class _AlwaysVisible:
    def __repr__(self) -> str:
        return "AlwaysVisible"


AlwaysVisible = _AlwaysVisible()


class Script:
    """Override `title`, `show`, `ui` and any of the processing callbacks (all optional)."""

    name: str | None = None
    section: str | None = None
    filename: str | None = None
    args_from: int | None = None
    args_to: int | None = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    group: Any = None
    infotext_fields: list[Any] | None = None
    paste_field_names: list[str] | None = None
    api_info: Any = None

    def title(self) -> str:
        raise NotImplementedError("a Script must define title()")

    def show(self, is_img2img: bool) -> Any:
        return True

    def ui(self, is_img2img: bool) -> Any:
        return []

    def run(self, p: Any, *args: Any) -> Any:
        return None

    def setup(self, p: Any, *args: Any) -> None: ...
    def before_process(self, p: Any, *args: Any) -> None: ...
    def process(self, p: Any, *args: Any) -> None: ...
    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def process_before_every_sampling(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def postprocess_batch(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def postprocess_batch_list(self, p: Any, pp: Any, *args: Any, **kwargs: Any) -> None: ...
    def postprocess_image(self, p: Any, pp: Any, *args: Any) -> None: ...
    def postprocess_image_after_composite(self, p: Any, pp: Any, *args: Any) -> None: ...
    def postprocess_maskoverlay(self, p: Any, ppmo: Any, *args: Any) -> None: ...
    def postprocess(self, p: Any, processed: Any, *args: Any) -> None: ...
    def before_component(self, component: Any, **kwargs: Any) -> None: ...
    def after_component(self, component: Any, **kwargs: Any) -> None: ...

    def on_before_component(self, callback: Any, *, elem_id: str) -> None:
        """Call `callback(OnComponent)` before the component with `elem_id` is built (this tab only)."""
        self.__dict__.setdefault("_before_elem_id", []).append((elem_id, callback))

    def on_after_component(self, callback: Any, *, elem_id: str) -> None:
        """Call `callback(OnComponent)` right after the component with `elem_id` is built (this tab only)."""
        self.__dict__.setdefault("_after_elem_id", []).append((elem_id, callback))

    def elem_id_callbacks(self, when: str) -> list[tuple[str, Any]]:
        """The `on_before_component` / `on_after_component` registrations (`when`: "before"/"after")."""
        return list(self.__dict__.get(f"_{when}_elem_id", []))

    def describe(self) -> str:
        return ""

    def elem_id(self, item_id: str) -> str:
        tab = "img2img" if self.is_img2img else "txt2img"
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))
        return f"script_{tab}_{title}_{item_id}"


@dataclass
class OnComponent:
    """What `on_before_component` / `on_after_component` callbacks receive (A1111's shape)."""

    component: Any


@dataclass
class PostprocessImageArgs:
    image: Any


@dataclass
class PostprocessBatchListArgs:
    images: list[Any]


@dataclass
class PostProcessMaskOverlayArgs:
    index: int
    mask_for_overlay: Any
    overlay_image: Any


class ScriptList:
    """`scripts.scripts_txt2img` / `scripts_img2img`: the loaded scripts of one tab."""

    def __init__(self, entries: Any) -> None:
        self._entries = entries

    @property
    def scripts(self) -> list[Script]:
        return [e.script for e in self._entries()]

    @property
    def alwayson_scripts(self) -> list[Script]:
        return [e.script for e in self._entries() if e.alwayson]

    @property
    def selectable_scripts(self) -> list[Script]:
        return [e.script for e in self._entries() if not e.alwayson]

    @property
    def titles(self) -> list[str]:
        return [e.title for e in self._entries()]


def build(host: Any, basedir: str) -> FacadeModule:
    module = FacadeModule("modules.scripts")
    module.Script = Script
    module.AlwaysVisible = AlwaysVisible
    module.PostprocessImageArgs = PostprocessImageArgs
    module.PostprocessBatchListArgs = PostprocessBatchListArgs
    module.PostProcessMaskOverlayArgs = PostProcessMaskOverlayArgs
    module.OnComponent = OnComponent
    module.basedir = lambda: basedir
    module.scripts_txt2img = ScriptList(lambda: host.scripts_for("txt2img"))
    module.scripts_img2img = ScriptList(lambda: host.scripts_for("img2img"))
    return module
