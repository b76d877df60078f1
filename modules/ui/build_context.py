"""What the tab builders share while the page is assembled: the runtime and the named widgets.

Tabs find each other's widgets by name here (PNG Info pastes into txt2img's fields by field
name; Settings saves txt2img's defaults by ui-config key), never by position. One object per
built page: nothing is kept at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modules.ui.ui_config import UiConfig

if TYPE_CHECKING:
    from modules.runtime import Runtime


@dataclass
class UiBuild:
    """Shared state of one `create_blocks` call."""

    runtime: "Runtime"
    ui_config: UiConfig
    tabs: Any = None  # the gr.Tabs holding every top-level tab
    # tab id -> its gr.Tab (builders that render lazily listen to their tab's `select`)
    tab_items: dict[str, Any] = field(default_factory=dict)
    # tab id -> form field name -> component: targets of "Send to <tab>" buttons
    paste_targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # tab id -> the HTML box where that tab shows messages (paste warnings land there)
    paste_logs: dict[str, Any] = field(default_factory=dict)
    # ui-config key ("txt2img/Sampling steps/value") -> component whose value is that default
    tracked_defaults: dict[str, Any] = field(default_factory=dict)
    # option key -> its widget in the top bar (quicksettings)
    quick: dict[str, Any] = field(default_factory=dict)
    # wiring that needs widgets of tabs built later (run once every tab exists)
    after_build: list[Callable[[], None]] = field(default_factory=list)
    # "img2img" / "inpaint" -> SendTarget (image widget + sub-tab) filled by "Send to" buttons
    send_targets: dict[str, Any] = field(default_factory=dict)
    # every dropdown listing style names (each tab's Styles and its editor's name box): refreshed
    # together after a style is saved or deleted, and on page load (styles.csv may have changed)
    styles_lists: list[Any] = field(default_factory=list)
    # tab id -> extension scripts' widgets filled by a paste (their `infotext_fields`)
    script_paste: dict[str, list[Any]] = field(default_factory=dict)

    def track(self, key: str, component: Any) -> Any:
        """Remember that `component` holds the ui-config default `key`; returns the component."""
        self.tracked_defaults[key] = component
        return component

    def warnings(self) -> list[str]:
        """Start-up problems to show on the page (corrupt config files and the like), deduplicated."""
        runtime_warnings = list(getattr(self.runtime, "warnings", []))
        settings_warnings = list(getattr(self.runtime.settings, "warnings", []))
        return list(dict.fromkeys(runtime_warnings + settings_warnings + self.ui_config.warnings))
