"""The card browser under the prompts: Checkpoints, Textual Inversion and Lora tabs.

The widgets are one HTML block that javascript/extra-networks.js fills when a tab is opened
(nothing is listed or scanned before that), so the page loads as fast with 5,000 LoRAs as
with none. Clicking a card inserts its tag at the prompt's cursor, or removes it when present.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

TABS = (("checkpoints", "Checkpoints"), ("textual_inversion", "Textual Inversion"), ("lora", "Lora"))
SORTS = (("path", "Path"), ("name", "Name"), ("date", "Date modified"))


def skeleton_html(tab: str, extra_tabs: tuple[tuple[str, str], ...] = ()) -> str:
    buttons = "".join(f'<button type="button" class="sdui-en-tab" data-page="{html.escape(p)}">'
                      f'{html.escape(label)}</button>' for p, label in (*TABS, *extra_tabs))
    sorts = "".join(f'<option value="{v}">{html.escape(label)}</option>' for v, label in SORTS)
    return (f'<div class="sdui-en" data-tab="{tab}">'
            f'<div class="sdui-en-tabs">{buttons}</div>'
            '<div class="sdui-en-body" hidden>'
            '<div class="sdui-en-controls">'
            f'<input type="search" class="sdui-en-search" placeholder="Search" aria-label="Search {tab} cards">'
            f'<select class="sdui-en-sort" aria-label="Sort cards">{sorts}</select>'
            '<button type="button" class="sdui-en-order" title="Reverse the order">⇅</button>'
            '<button type="button" class="sdui-en-refresh" title="Rescan the folder">🔄</button>'
            '<span class="sdui-en-count"></span></div>'
            '<div class="sdui-en-main"><div class="sdui-en-tree"></div><div class="sdui-en-cards"></div></div>'
            '</div></div>')


def extension_tabs(runtime: Any) -> tuple[tuple[str, str], ...]:
    """(page id, title) of the card pages extensions added (after the built-in tabs)."""
    from modules.networks.extension_networks import ExtensionNetworks

    features = runtime.features.all() if runtime is not None and getattr(runtime, "features", None) else ()
    return tuple((p.page_id, p.title) for f in features if isinstance(f, ExtensionNetworks)
                 for p in f.pages.values())


def build_extra_networks(tab: str, runtime: Any = None) -> gr.HTML:
    return gr.HTML(skeleton_html(tab, extension_tabs(runtime)), elem_id=f"{tab}_extra_networks",
                   elem_classes=["sdui-extra-networks"])
