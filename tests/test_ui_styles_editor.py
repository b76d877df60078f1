"""The styles editor's handlers (save new, overwrite, delete, refused input, list refresh) against a
real StyleDatabase and styles.csv, and its wiring: Save and Delete of either tab refresh the
styles lists of both tabs.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("gradio")

import gradio as gr  # noqa: E402

from modules.styles import StyleDatabase, read_styles_csv  # noqa: E402
from modules.ui.build_context import UiBuild  # noqa: E402
from modules.ui.prompt_row import build_prompt_row  # noqa: E402
from modules.ui.styles_editor import (  # noqa: E402
    delete_edited_style,
    refreshed_lists,
    reload_styles,
    save_edited_style,
    show_style,
)
from modules.ui.ui_config import UiConfig  # noqa: E402

WARM = 'name,prompt,negative_prompt\nWarm,"{prompt}, warm light",cold\n'


@pytest.fixture
def styles_file(tmp_path: Path) -> Path:
    path = tmp_path / "styles.csv"
    path.write_text(WARM, encoding="utf-8")
    return path


@pytest.fixture
def runtime(styles_file: Path) -> SimpleNamespace:
    return SimpleNamespace(styles=StyleDatabase([styles_file]))


def saved(path: Path) -> dict[str, tuple[str, str]]:
    return {s.name: (s.prompt, s.negative_prompt) for s in read_styles_csv(path)}


def test_save_new_style_round_trips_through_styles_csv(runtime: SimpleNamespace, styles_file: Path) -> None:
    tricky = 'a "quoted", {prompt}\nsecond line'
    assert save_edited_style(runtime, " Night ", tricky, "sun, day") == "Night"
    assert saved(styles_file) == {"Warm": ("{prompt}, warm light", "cold"), "Night": (tricky, "sun, day")}
    assert list(runtime.styles.styles) == ["Warm", "Night"]
    assert not list(styles_file.parent.glob(".styles.csv.*.tmp")), "written through a temp file"


def test_save_overwrites_a_style_in_place(runtime: SimpleNamespace, styles_file: Path) -> None:
    save_edited_style(runtime, "Night", "dark", "")
    assert save_edited_style(runtime, "Warm", "golden hour, {prompt}", None) == "Warm"
    assert saved(styles_file) == {"Warm": ("golden hour, {prompt}", ""), "Night": ("dark", "")}
    assert list(runtime.styles.styles) == ["Warm", "Night"], "an overwritten style keeps its place"


def test_delete_removes_the_style_and_empties_the_dialog(runtime: SimpleNamespace, styles_file: Path) -> None:
    save_edited_style(runtime, "Night", "dark", "")
    assert delete_edited_style(runtime, "Warm") == ("", "", "")
    assert saved(styles_file) == {"Night": ("dark", "")}
    assert delete_edited_style(runtime, "Night") == ("", "", "")
    assert saved(styles_file) == {} and styles_file.read_text(encoding="utf-8-sig").strip() == \
        "name,prompt,negative_prompt"


@pytest.mark.parametrize("name", ["", "   ", None])
def test_an_empty_name_is_refused_and_nothing_changes(runtime: SimpleNamespace, styles_file: Path,
                                                      name: str | None) -> None:
    before = styles_file.read_bytes()
    with pytest.raises(gr.Error, match="Style not saved: give the style a name first"):
        save_edited_style(runtime, name, "x", "y")
    with pytest.raises(gr.Error, match="Style not deleted: choose the style to delete first"):
        delete_edited_style(runtime, name or "")
    assert styles_file.read_bytes() == before and list(runtime.styles.styles) == ["Warm"]


def test_deleting_an_unknown_style_names_it(runtime: SimpleNamespace, styles_file: Path) -> None:
    with pytest.raises(gr.Error, match="Style not deleted: there is no style named 'Cold'"):
        delete_edited_style(runtime, "Cold")
    assert saved(styles_file) == {"Warm": ("{prompt}, warm light", "cold")}


def test_cancelled_delete_changes_nothing(runtime: SimpleNamespace, styles_file: Path) -> None:
    updates = delete_edited_style(runtime, None)  # the confirm() box said no
    assert all(u == gr.update() for u in updates) and "Warm" in saved(styles_file)


def test_a_failed_write_leaves_the_list_as_it_was(runtime: SimpleNamespace, monkeypatch: Any) -> None:
    def disk_full() -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(runtime.styles, "save_styles", disk_full)
    with pytest.raises(gr.Error, match="Style not saved: No space left"):
        save_edited_style(runtime, "Night", "dark", "")
    with pytest.raises(gr.Error, match="Style not saved: No space left"):
        save_edited_style(runtime, "Warm", "changed", "")
    with pytest.raises(gr.Error, match="Style not deleted: No space left"):
        delete_edited_style(runtime, "Warm")
    assert {n: s.prompt for n, s in runtime.styles.styles.items()} == {"Warm": "{prompt}, warm light"}


def test_choosing_a_style_fills_the_boxes_and_a_new_name_keeps_them(runtime: SimpleNamespace) -> None:
    assert show_style(runtime, "Warm") == ("{prompt}, warm light", "cold")
    assert show_style(runtime, "Brand new") == (gr.update(), gr.update())
    assert show_style(runtime, None) == (gr.update(), gr.update())


def test_refreshed_lists_offer_current_names_and_drop_deleted_selections(runtime: SimpleNamespace) -> None:
    save_edited_style(runtime, "Night", "dark", "")
    delete_edited_style(runtime, "Warm")
    updates = refreshed_lists(runtime, [["Warm", "Night"], [], "Warm", None])
    assert [u["choices"] for u in updates] == [["Night"]] * 4
    assert updates[0]["value"] == ["Night"] and updates[1]["value"] == []
    assert "value" not in updates[2] and "value" not in updates[3], "a name box keeps what was typed"


def test_reload_reads_styles_csv_again(runtime: SimpleNamespace, styles_file: Path) -> None:
    styles_file.write_text(WARM + "Edited by hand,hand,\n", encoding="utf-8")
    reload_styles(runtime)
    assert list(runtime.styles.styles) == ["Warm", "Edited by hand"]


def _dependency(config: dict[str, Any], ids: dict[int, str], elem_id: str) -> dict[str, Any]:
    return next(d for d in config["dependencies"]
                if any(ids.get(target) == elem_id and event == "click" for target, event in d["targets"]))


def test_save_and_delete_refresh_the_lists_of_both_tabs(runtime: SimpleNamespace, tmp_path: Path) -> None:
    ui = UiBuild(runtime, UiConfig(tmp_path / "ui-config.json"))
    with gr.Blocks() as demo:
        for tab in ("txt2img", "img2img"):
            build_prompt_row(ui, tab)
        for hook in ui.after_build:
            hook()
    config = demo.get_config_file()
    ids = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    lists = ["txt2img_styles", "txt2img_styles_edit_select", "img2img_styles", "img2img_styles_edit_select"]
    deps = config["dependencies"]
    for tab in ("txt2img", "img2img"):
        for button in ("save", "delete"):
            first = _dependency(config, ids, f"{tab}_edit_style_{button}")
            then = next(d for d in deps if d["trigger_after"] == first["id"])
            assert then["trigger_only_on_success"], "a refused save or delete refreshes nothing"
            assert [ids[i] for i in then["outputs"]] == lists
            assert [ids[i] for i in then["inputs"]] == lists
