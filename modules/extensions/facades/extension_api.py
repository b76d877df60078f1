"""`modules.extension_api`: this app's own extension API (versioned), beside the A1111 facades.

    from modules import extension_api as api
    api.require(1)                               # refuse to load on an app with an older API
    api.on("on_step", fn)                        # hook points: modules/hooks/host.py (HOOK_POINTS)
    api.add_setting("key", default, "Label")     # appears in Settings under the extension's name
    api.add_tab("Title", build)                  # build() makes gradio components (inside the tab)
    api.add_route("GET", "/my-ext/thing", fn)    # a FastAPI route on the app
    api.add_feature(feature)                     # a job feature (modules/engine/features.py)
"""

from __future__ import annotations

from typing import Any

from modules.extensions.facades.importer import FacadeModule
from modules.hooks.host import HOOK_POINTS
from modules.settings.schema import OptionInfo

API_VERSION = 1


class ExtensionApiError(RuntimeError):
    pass


def build(host: Any, owner: str) -> FacadeModule:
    runtime = host.runtime
    module = FacadeModule("modules.extension_api")
    module.VERSION = API_VERSION
    module.HOOK_POINTS = dict(HOOK_POINTS)

    def require(version: int) -> None:
        if version > API_VERSION:
            raise ExtensionApiError(f"extension '{owner}' needs extension API version {version}; this app "
                                    f"offers {API_VERSION}. Update the app or use an older version of the extension.")

    def on(point: str, fn: Any, version: int = 1) -> None:
        runtime.hooks.register(point, fn, owner=owner, version=version)

    def add_setting(key: str, default: Any, label: str, component: str = "auto", **kw: Any) -> None:
        runtime.settings.add_option(key, OptionInfo(default, label, f"ext-{owner}", component,
                                                    extra={"section_title": owner}, **kw))

    def add_tab(title: str, build_tab: Any, elem_id: str | None = None) -> None:
        host.add_callback("own_tabs", owner, lambda: (title, build_tab, elem_id or f"tab_{owner}"))

    def add_route(method: str, path: str, fn: Any) -> None:
        host.add_callback("app_started", owner, lambda _demo, app: app.add_api_route(path, fn, methods=[method]))

    def add_feature(feature: Any) -> None:
        runtime.features.register(feature)

    for fn in (require, on, add_setting, add_tab, add_route, add_feature):
        setattr(module, fn.__name__, fn)
    module.settings = lambda: runtime.settings.snapshot()
    return module
