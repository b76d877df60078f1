"""The Extensions tab: Installed, Available, Install from URL, Backup/Restore — A1111's labels.

All actions go through `modules/extensions/manage.py` (the same code the tests drive). Under
--listen/--share/--server-name without --enable-insecure-extension-access every action is
refused and the tab says so, naming the flag.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from modules.extensions.install import ACCESS_REFUSED, InstallError
from modules.extensions.manage import DEFAULT_INDEX_URL, SORT_ORDERS, filter_index, load_index
from modules.ui.build_context import UiBuild

RELOAD_JS = """() => { setTimeout(function wait() {
  fetch('./internal/ping').then(r => r.ok ? location.reload() : setTimeout(wait, 500))
    .catch(() => setTimeout(wait, 500)); }, 2000); }"""


def _message(text: str, error: bool = False) -> str:
    cls = "sdui-error" if error else "sdui-notice"
    return f'<div class="{cls}">{html.escape(text)}</div>'


def installed_html(manager: Any) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Extension", "URL", "Branch", "Version", "Date", "Update"))
    body = []
    for r in manager.rows():
        name = html.escape(r.name) + (" (built-in)" if r.builtin else "")
        errors = "".join(f'<div class="sdui-error">{html.escape(e)}</div>' for e in r.errors)
        cells = [name + errors, html.escape(r.remote), html.escape(r.branch), html.escape(r.commit),
                 html.escape(r.date), html.escape(r.status)]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    rows = "".join(body)
    return f'<table id="extensions_installed_table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _guarded(manager: Any, action: Any) -> str:
    try:
        return _message(action())
    except (PermissionError, InstallError, ValueError, OSError) as e:
        return _message(str(e), error=True)


def _installed_tab(manager: Any) -> tuple[Any, Any]:
    rows = manager.rows()
    with gr.Row():
        apply = gr.Button("Apply and restart UI", variant="primary", elem_id="extensions_apply")
        check = gr.Button("Check for updates", elem_id="extensions_check")
        update = gr.Button("Update", elem_id="extensions_update")
    disable_all = gr.Radio(["none", "extra", "all"], value=manager.host.runtime.settings.get("disable_all_extensions")
                           or "none", label="Disable all extensions", elem_id="extensions_disable_all")
    enabled = gr.CheckboxGroup([r.name for r in rows], value=[r.name for r in rows if r.enabled],
                               label="Enabled", elem_id="extensions_enabled")
    table = gr.HTML(installed_html(manager), elem_id="extensions_installed_html")
    message = gr.HTML(elem_id="extensions_installed_result")

    def do_check() -> tuple[str, str]:
        result = _guarded(manager, lambda: "Checked: " + ", ".join(f"{k}: {v}" for k, v in
                                                                    manager.check_updates().items()))
        return installed_html(manager), result

    def do_update() -> tuple[str, str]:
        result = _guarded(manager, lambda: "; ".join(manager.update()) or "Nothing to update: "
                          "press \"Check for updates\" first")
        return installed_html(manager), result

    def do_apply(names: list[str], mode: str) -> str:
        return _guarded(manager, lambda: (manager.apply(names, mode), "Restarting: the page reloads when the "
                                          "server is back.")[1])

    check.click(do_check, outputs=[table, message])
    update.click(do_update, outputs=[table, message])
    apply.click(do_apply, inputs=[enabled, disable_all], outputs=message).then(None, js=RELOAD_JS)
    return table, enabled


def refreshed_installed(manager: Any) -> tuple[str, Any]:
    """The Installed table and the Enabled boxes after an install (a new one starts enabled)."""
    rows = manager.rows()
    return installed_html(manager), gr.update(choices=[r.name for r in rows], value=[r.name for r in rows if r.enabled])


def _url_tab(manager: Any, installed: tuple[Any, Any]) -> None:
    url = gr.Textbox(label="URL for extension's git repository", elem_id="extension_install_url")
    branch = gr.Textbox(label="Specific branch name", placeholder="Leave empty for default main branch",
                        elem_id="extension_install_branch")
    dirname = gr.Textbox(label="Local directory name", placeholder="Leave empty for auto",
                         elem_id="extension_install_dirname")
    install = gr.Button("Install", variant="primary", elem_id="extension_install_button")
    result = gr.HTML(elem_id="extension_install_result")
    install.click(lambda u, b, d: (_guarded(manager, lambda: manager.install(u, b, d)), *refreshed_installed(manager)),
                  inputs=[url, branch, dirname], outputs=[result, *installed])


def _index_html(items: list[dict[str, Any]]) -> str:
    rows = []
    for e in items:
        tags = ", ".join(e.get("tags", []))
        state = "installed" if e.get("installed") else ""
        rows.append(f"<tr><td><a href=\"{html.escape(str(e.get('url', '')))}\">{html.escape(str(e.get('name', '')))}"
                    f"</a><div>{html.escape(str(e.get('description', '')))}</div><small>{html.escape(tags)}</small>"
                    f"</td><td>{state}</td></tr>")
    return f'<table id="extensions_available_table"><tbody>{"".join(rows)}</tbody></table>'


def _available_tab(manager: Any, installed: tuple[Any, Any]) -> None:
    with gr.Row():
        load = gr.Button("Load from:", variant="primary", elem_id="extensions_load")
        source = gr.Textbox(value=DEFAULT_INDEX_URL, show_label=False, elem_id="extensions_index_url")
    with gr.Row():
        hide = gr.CheckboxGroup(["ads", "localization", "installed"], value=["ads", "localization", "installed"],
                                label="Hide extensions with tags", elem_id="extensions_hide_tags")
        sort = gr.Radio(list(SORT_ORDERS), value="newest first", label="Order", elem_id="extensions_sort")
    search = gr.Textbox(label="Search", elem_id="extensions_search")
    message = gr.HTML(elem_id="extensions_available_result")
    table = gr.HTML(elem_id="extensions_available_html")
    with gr.Row():
        pick = gr.Dropdown([], label="Extension", elem_id="extensions_available_pick")
        install = gr.Button("Install", elem_id="extensions_available_install")
    index = gr.State(None)

    def show(data: Any, words: str, tags: list[str], order: str) -> tuple[Any, ...]:
        if not data:
            return gr.update(), gr.update()
        items = filter_index(data, search=words, hide_tags=tags, sort=order, installed=manager.installed_remotes())
        names = [str(e.get("name")) for e in items if not e.get("installed")]
        return _index_html(items), gr.update(choices=names, value=names[0] if names else None)

    def do_load(src: str, words: str, tags: list[str], order: str) -> tuple[Any, ...]:
        try:
            data = load_index(src)
        except ValueError as e:
            return None, _message(str(e), error=True), "", gr.update(choices=[], value=None)
        return (data, _message(f"{len(data['extensions'])} extensions in the index"), *show(data, words, tags, order))

    def do_install(data: Any, name: str) -> str:
        found = next((e for e in (data or {}).get("extensions", []) if e.get("name") == name), None)
        if found is None:
            return _message("Choose an extension first (press \"Load from:\" to load the index)", error=True)
        return _guarded(manager, lambda: manager.install(str(found["url"])))

    load.click(do_load, inputs=[source, search, hide, sort], outputs=[index, message, table, pick])
    for box in (search, hide, sort):
        box.change(show, inputs=[index, search, hide, sort], outputs=[table, pick], show_progress="hidden")
    install.click(lambda d, n: (do_install(d, n), *refreshed_installed(manager)), inputs=[index, pick],
                  outputs=[message, *installed])


def _backup_tab(manager: Any) -> None:
    with gr.Row():
        name = gr.Textbox(label="Name of the saved state", elem_id="extensions_backup_name")
        save = gr.Button("Save current state", elem_id="extensions_backup_save")
    with gr.Row():
        states = gr.Dropdown([p.name for p in manager.list_states()], label="Saved states",
                             elem_id="extensions_backup_states")
        restore = gr.Button("Restore", elem_id="extensions_backup_restore")
    message = gr.HTML(elem_id="extensions_backup_result")

    def do_save(text: str) -> tuple[Any, str]:
        path = manager.save_state(text)
        return gr.update(choices=[p.name for p in manager.list_states()], value=path.name), _message(
            f"Saved {path.name}")

    save.click(do_save, inputs=name, outputs=[states, message])
    restore.click(lambda s: _guarded(manager, lambda: "; ".join(manager.restore_state(s or "")) +
                                     ". Press \"Apply and restart UI\" on the Installed tab."),
                  inputs=states, outputs=message)


def build_tab(ui: UiBuild) -> None:
    host = getattr(ui.runtime, "extensions", None)
    if host is None:
        gr.HTML(_message("Extensions are not loaded in this server."))
        return
    manager = host.manager
    if not host.access_allowed():
        gr.HTML(_message(ACCESS_REFUSED, error=True), elem_id="extensions_access_refused")
    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", id="extensions_installed"):
            installed = _installed_tab(manager)
        with gr.Tab("Available", id="extensions_available"):
            _available_tab(manager, installed)
        with gr.Tab("Install from URL", id="extensions_install_url"):
            _url_tab(manager, installed)
        with gr.Tab("Backup/Restore", id="extensions_backup"):
            _backup_tab(manager)


def extension_tab_specs(runtime: Any) -> list[Any]:
    """Tabs the extensions add (on_ui_tabs), built before the page (each returns its own Blocks)."""
    from modules.ui.blocks import TabSpec

    host = getattr(runtime, "extensions", None)
    specs = []
    for result in host.call("ui_tabs") if host is not None else []:
        for item in result or []:
            blocks, title, elem_id = (list(item) + [None, None])[:3]
            specs.append(TabSpec(str(elem_id or title), str(title), _isolated(host, str(title), blocks.render)))
    for title, build, elem_id in host.call("own_tabs") if host is not None else []:
        specs.append(TabSpec(elem_id, title, _isolated(host, title, build)))
    return specs


def _isolated(host: Any, title: str, build: Any) -> Any:
    """A tab builder whose failure shows a message in the tab instead of breaking the page."""
    def run(ui: Any) -> None:
        try:
            build()
        except Exception as err:
            message = f"The extension tab '{title}' failed to build: {type(err).__name__}: {err}"
            host.errors.append(message)
            gr.HTML(_message(message, error=True))

    return run
