"""What the page carries besides widgets: our JavaScript and CSS inlined into it, options the
scripts need, and the theme. Everything is served by this app itself, so the page works with
no internet (no CDN, no web fonts from elsewhere).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

ON_LOAD_JS = "() => { if (window.sduiOnLoad) { window.sduiOnLoad(); } }"
# Settings the browser-side scripts read (edit-attention precision and word delimiters).
JS_OPTION_KEYS = ("keyedit_precision_attention", "keyedit_delimiters", "js_modal_lightbox")


def javascript_files(app_root: Path) -> list[Path]:
    folder = app_root / "javascript"
    return sorted(folder.glob("*.js")) if folder.is_dir() else []


def _inline_script(code: str) -> str:
    return "<script>\n" + code.replace("</script", "<\\/script") + "\n</script>"


def js_options(runtime: Any) -> dict[str, Any]:
    options = {key: runtime.settings.get(key) for key in JS_OPTION_KEYS}
    options["theme"] = getattr(runtime.args, "theme", None)
    # Hover hints of the sampler list's entries (javascript/hints.js), e.g. that DPM adaptive ignores steps.
    options["sampler_hints"] = {s.name: s.description for s in runtime.samplers.list() if s.description}
    return options


def page_head(runtime: Any) -> str:
    """Inline <script>s: the options object first, then every file of javascript/ in name order."""
    parts = [_inline_script(f"window.sduiOptions = {json.dumps(js_options(runtime))};")]
    for path in javascript_files(runtime.paths.app_root):
        parts.append(_inline_script(f"// {path.name}\n" + path.read_text(encoding="utf-8")))
    for ext in _enabled_extensions(runtime):  # then each extension's javascript/ (A1111's order)
        for path in ext.javascript_files():
            parts.append(_inline_script(f"// {ext.name}/{path.name}\n" + path.read_text(encoding="utf-8")))
    return "\n".join(parts)


def _enabled_extensions(runtime: Any) -> list[Any]:
    host = getattr(runtime, "extensions", None)
    return [e for e in host.extensions if e.enabled] if host is not None else []


def page_css(runtime: Any) -> str:
    """style.css with the tool-button icons, then the extensions' style.css files and the user's own
    user.css from the data folder (A1111 loads them too)."""
    from modules.ui.icon_css import icons_css

    parts = [icons_css()]
    ext_css = [e.style_file() for e in _enabled_extensions(runtime) if e.style_file() is not None]
    for path in (runtime.paths.app_root / "style.css", *ext_css, runtime.paths.data_dir / "user.css"):
        if path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def page_theme() -> gr.themes.Base:
    """Gradio's default theme with A1111's colours; its fonts are bundled with gradio (local)."""
    return gr.themes.Default(primary_hue="orange", secondary_hue="blue")
