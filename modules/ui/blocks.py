"""Assemble the page: warnings banner, quicksettings bar, and the tabs in A1111's order.

Tabs are a list of `TabSpec` builders, so later issues add img2img, Extras, Checkpoint Merger,
Train and Extensions by inserting entries (see `default_tabs`), and extensions can append
their own, without touching the other tabs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.option_widgets import checkpoint_titles, current_checkpoint_title, widget_value
from modules.ui.quicksettings import CHECKPOINT_KEY, build_quicksettings
from modules.ui.settings import warnings_html
from modules.ui.ui_config import UiConfig


@dataclass(frozen=True)
class TabSpec:
    """One top-level tab: its id (used by "Send to"), its label, and the function that builds it."""

    id: str
    label: str
    build: Callable[[UiBuild], None]


def default_tabs() -> list[TabSpec]:
    """The built-in tabs. A1111 order, with the places later issues fill:
    txt2img, [img2img], [Extras], PNG Info, [Checkpoint Merger], [Train], Settings, [Extensions]."""
    from modules.ui import (
        controlnet_tab,
        extensions_tab,
        extras,
        img2img,
        interrogate_tab,
        png_info,
        settings,
        txt2img,
    )

    return [
        TabSpec("txt2img", "txt2img", txt2img.build_tab),
        TabSpec("img2img", "img2img", img2img.build_img2img_tab),
        TabSpec("extras", "Extras", extras.build_tab),
        TabSpec("pnginfo", "PNG Info", png_info.build_tab),
        TabSpec("controlnet", "ControlNet", controlnet_tab.build_tab),
        TabSpec("interrogate", "Interrogate", interrogate_tab.build_tab),
        TabSpec("settings", "Settings", settings.build_tab),
        TabSpec("extensions", "Extensions", extensions_tab.build_tab),
    ]


def _load_values(ui: UiBuild, banner: Any) -> dict[Any, Any]:
    """Values for a fresh page: settings may have changed (API, other tabs) since the page was built."""
    runtime = ui.runtime
    store = runtime.settings
    out: dict[Any, Any] = {banner: warnings_html(ui.warnings())}
    for key, widget in ui.quick.items():
        if key == CHECKPOINT_KEY:
            titles, current = checkpoint_titles(runtime), current_checkpoint_title(runtime)
            out[widget] = gr.update(choices=titles, value=current)
        else:
            out[widget] = widget_value(runtime, key, store.get(key))
    return out


def demo_model_defaults(runtime: Any) -> dict[str, Any]:
    """ui-config keys for the demo model's recommended settings, when the demo is the model in use."""
    from modules.models.demo import recommended_settings

    try:
        info = runtime.checkpoint_for(None)
    except (LookupError, RuntimeError):
        return {}
    if not info.is_demo:
        return {}
    rec = recommended_settings(info.filename)
    labels = {"width": "Width", "height": "Height", "steps": "Sampling steps", "cfg_scale": "CFG Scale",
              "sampler_name": "Sampling method", "prompt": "Prompt"}
    return {f"{tab}/{labels[k]}/value": v for tab in ("txt2img", "img2img") for k, v in rec.items() if k in labels}


def create_blocks(runtime: Any, tabs: Sequence[TabSpec] | None = None,
                  ui_config: UiConfig | None = None) -> gr.Blocks:
    """The whole page for `runtime`; writes ui-config.json when it lacked keys (as A1111 does).
    Extensions hear of every widget built (A1111's before/after_component callbacks)."""
    from modules.ui.component_events import component_events

    with component_events(getattr(runtime, "extensions", None)) as listener:
        demo, ui = _build_page(runtime, tabs, ui_config, listener)
    ui.ui_config.save_if_new_keys()
    return demo


def _build_page(runtime: Any, tabs: Sequence[TabSpec] | None, ui_config: UiConfig | None,
                listener: Any) -> tuple[gr.Blocks, UiBuild]:
    from modules.ui.component_events import scripts_of_tab

    ui = UiBuild(runtime, ui_config or UiConfig(runtime.paths.ui_config_file))
    ui.ui_config.transient_defaults.update(demo_model_defaults(runtime))
    if tabs is None:  # extensions' own tabs (on_ui_tabs) go before Settings, as in A1111
        from modules.ui.extensions_tab import extension_tab_specs

        tabs = default_tabs()
        at = next((i for i, t in enumerate(tabs) if t.id == "settings"), len(tabs))
        tabs[at:at] = extension_tab_specs(runtime)
    with gr.Blocks(title="Stable Diffusion", analytics_enabled=False) as demo:
        banner = gr.HTML(warnings_html(ui.warnings()), elem_id="sdui_warnings")
        build_quicksettings(ui)
        with gr.Tabs(elem_id="tabs") as ui.tabs:
            for spec in tabs if tabs is not None else default_tabs():
                with gr.Tab(spec.label, id=spec.id, elem_id=f"tab_{spec.id}") as tab, \
                        scripts_of_tab(listener, spec.id):
                    ui.tab_items[spec.id] = tab
                    spec.build(ui)
        for hook in ui.after_build:
            hook()
        outputs = [banner, *ui.quick.values()]
        demo.load(lambda: _load_values(ui, banner), outputs=outputs, show_progress="hidden", queue=False,
                  api_visibility="private")
    return demo, ui
