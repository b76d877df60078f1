"""The styles editor (A1111 1.7+): 🖌️ beside the Styles list opens a dialog to create, change or
delete a style, so styles.csv never has to be edited by hand.

The dialog holds a style-name box (pick a style, or type a new name), the style's prompt and
negative prompt, 🔄 (read styles.csv again), 📋 (apply the selected styles, as in the prompt row),
📝 (copy the tab's prompts into the dialog), and Save / Delete / Close.

Save and Delete change the one `StyleDatabase` the API and the engine use, write styles.csv
atomically, then refresh every styles list of the page (both tabs' Styles and both editors):
a tab must not keep offering a deleted style, which gradio would refuse on the next Generate.
Refused input raises `gr.Error` (a visible message), which also stops the chained refresh, so
nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.styles import UnknownStyleError
from modules.ui.build_context import UiBuild
from modules.ui.styles_actions import delete_style, save_style, style_names
from modules.ui.tool_button import tool_button

STYLES_INFO = ("A style adds its text to the prompt: a {prompt} in the style is replaced by the prompt, "
               "otherwise the style text is added at the end. Type a new name to create a style.")
# Ask before deleting (as A1111 does); null tells the handler the user said no.
CONFIRM_DELETE_JS = "(name) => (name && confirm('Delete style ' + name + '?')) ? name : null"


@dataclass
class StylesEditor:
    """The dialog's widgets; `dialog` is hidden until `open_button` is clicked."""

    open_button: Any
    dialog: Any
    selection: Any
    prompt: Any
    negative_prompt: Any
    refresh: Any
    apply: Any
    copy: Any
    save: Any
    delete: Any
    close: Any


def show_style(runtime: Any, name: str | None) -> tuple[Any, Any]:
    """Fill the boxes from the chosen style. A name that is no style yet (being typed) leaves the
    boxes alone, so text copied with 📝 can be saved under the new name in any order."""
    style = runtime.styles.styles.get((name or "").strip())
    if style is None:
        return gr.update(), gr.update()
    return style.prompt, style.negative_prompt


def save_edited_style(runtime: Any, name: str | None, prompt: str | None,
                      negative_prompt: str | None) -> Any:
    """Save (create or overwrite) style `name`; returns the trimmed name for the name box."""
    try:
        message = save_style(runtime, name or "", prompt or "", negative_prompt or "")
    except (ValueError, OSError) as e:
        raise gr.Error(f"Style not saved: {e}", print_exception=False) from None
    gr.Info(message)
    return (name or "").strip()


def delete_edited_style(runtime: Any, name: str | None) -> tuple[Any, Any, Any]:
    """Delete style `name` and empty the dialog; `name` None means the user cancelled the
    confirmation, and nothing happens."""
    if name is None:
        return gr.update(), gr.update(), gr.update()
    try:
        message = delete_style(runtime, name)
    except (ValueError, UnknownStyleError, OSError) as e:
        raise gr.Error(f"Style not deleted: {e}", print_exception=False) from None
    gr.Info(message)
    return "", "", ""


def reload_styles(runtime: Any) -> None:
    """🔄: read the styles files again (edited by hand, or by another program); a broken file is
    reported rather than silently emptying the list."""
    runtime.styles.reload()
    for problem in runtime.styles.load_errors:
        gr.Warning(problem)


def refreshed_lists(runtime: Any, values: Sequence[Any]) -> list[Any]:
    """Updates for every styles list, given their current values, in the same order.

    A multi-select list (the tabs' Styles) also drops names that no longer exist, since gradio
    refuses a value outside the choices; a name box keeps its text (it accepts new names)."""
    names = style_names(runtime)
    return [gr.update(choices=names, value=[v for v in value if v in names]) if isinstance(value, list)
            else gr.update(choices=names) for value in values]


def _build_dialog(tab: str, names: list[str]) -> dict[str, Any]:
    with gr.Column(visible=False, elem_id=f"{tab}_styles_dialog", elem_classes=["popup-dialog"]) as dialog:
        with gr.Row(equal_height=True):
            selection = gr.Dropdown(choices=names, value=None, allow_custom_value=True, label="Style",
                                    info=STYLES_INFO, elem_id=f"{tab}_styles_edit_select", scale=6)
            refresh = tool_button("🔄", f"refresh_{tab}_styles")
            apply = tool_button("📋", f"{tab}_style_apply_dialog")
            copy = tool_button("📝", f"{tab}_style_copy")
        prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{tab}_edit_style_prompt", elem_classes=["prompt"])
        negative = gr.Textbox(label="Negative prompt", lines=3, elem_id=f"{tab}_edit_style_neg_prompt",
                              elem_classes=["prompt"])
        with gr.Row():
            save = gr.Button("Save", variant="primary", elem_id=f"{tab}_edit_style_save")
            delete = gr.Button("Delete", variant="stop", elem_id=f"{tab}_edit_style_delete")
            close = gr.Button("Close", variant="secondary", elem_id=f"{tab}_edit_style_close")
    return {"dialog": dialog, "selection": selection, "prompt": prompt, "negative_prompt": negative,
            "refresh": refresh, "apply": apply, "copy": copy, "save": save, "delete": delete, "close": close}


def _wire_dialog(runtime: Any, editor: StylesEditor, main_prompt: Any, main_negative: Any) -> None:
    """Events that touch only this tab: open, close, pick a style, copy the prompts in."""
    quiet: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
    editor.open_button.click(lambda: gr.update(visible=True), outputs=editor.dialog, queue=False, **quiet)
    editor.close.click(lambda: gr.update(visible=False), outputs=editor.dialog, queue=False, **quiet)
    editor.selection.change(lambda name: show_style(runtime, name), inputs=editor.selection,
                            outputs=[editor.prompt, editor.negative_prompt], queue=False, **quiet)
    editor.copy.click(lambda p, n: (p, n), inputs=[main_prompt, main_negative],
                      outputs=[editor.prompt, editor.negative_prompt], queue=False, **quiet)


def _wire_changes(ui: UiBuild, editor: StylesEditor) -> None:
    """Save, Delete and 🔄, each followed by a refresh of every styles list on the page; run once
    all tabs are built (`UiBuild.after_build`), when those lists are known."""
    runtime, lists = ui.runtime, list(ui.styles_lists)
    quiet: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}

    def refresh(*values: Any) -> list[Any]:
        return refreshed_lists(runtime, values)

    editor.save.click(lambda name, p, n: save_edited_style(runtime, name, p, n),
                      inputs=[editor.selection, editor.prompt, editor.negative_prompt],
                      outputs=editor.selection, **quiet).success(refresh, inputs=lists, outputs=lists, **quiet)
    editor.delete.click(lambda name: delete_edited_style(runtime, name), inputs=editor.selection,
                        outputs=[editor.selection, editor.prompt, editor.negative_prompt], js=CONFIRM_DELETE_JS,
                        **quiet).success(refresh, inputs=lists, outputs=lists, **quiet)
    editor.refresh.click(lambda: reload_styles(runtime), **quiet).success(refresh, inputs=lists, outputs=lists,
                                                                          **quiet)


def _refresh_on_load(runtime: Any, lists: list[Any]) -> None:
    """Fresh choices on every page load: the page is built once at start-up, and styles.csv may
    have changed since (a save from another page, the API, an edit by hand)."""
    gr.on(None, lambda: [gr.update(choices=style_names(runtime)) for _ in lists], outputs=lists, queue=False,
          show_progress="hidden", api_visibility="private")


def build_styles_editor(ui: UiBuild, tab: str, open_button: Any, styles: Any, main_prompt: Any,
                        main_negative: Any) -> StylesEditor:
    """Build the hidden dialog of `tab` and wire it; call it inside the prompt row.

    `open_button` is the 🖌️ beside the tab's Styles list `styles`; both it and the dialog's name
    box join `ui.styles_lists`, which Save and Delete (of either tab) refresh. The dialog's 📋 is
    wired with the prompt row's apply button (`modules/ui/prompt_wiring.py`), which shows errors
    in the tab's log."""
    parts = _build_dialog(tab, style_names(ui.runtime))
    editor = StylesEditor(open_button=open_button, **parts)
    ui.styles_lists.extend([styles, editor.selection])
    _wire_dialog(ui.runtime, editor, main_prompt, main_negative)
    _refresh_on_load(ui.runtime, [styles, editor.selection])
    ui.after_build.append(lambda: _wire_changes(ui, editor))
    return editor
