"""Prompt-row helpers: styles apply/save into styles.csv, and the token counter's text."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from modules.styles import StyleDatabase, read_styles_csv
from modules.ui.styles_actions import apply_styles, save_style, style_names
from modules.ui.token_counter import counter_text, token_counter_html


@pytest.fixture
def runtime(tmp_path: Path) -> SimpleNamespace:
    path = tmp_path / "styles.csv"
    path.write_text('name,prompt,negative_prompt\nWarm,"{prompt}, warm light",cold\n', encoding="utf-8")
    return SimpleNamespace(styles=StyleDatabase([path]))


def test_apply_styles_writes_them_into_both_prompts(runtime: SimpleNamespace) -> None:
    assert apply_styles(runtime, "a cat", "blurry", ["Warm"]) == ("a cat, warm light", "blurry, cold")
    assert apply_styles(runtime, "a cat", "", []) == ("a cat", "")


def test_unknown_style_names_the_known_ones(runtime: SimpleNamespace) -> None:
    with pytest.raises(KeyError, match="unknown style 'Cold'; known styles: Warm"):
        apply_styles(runtime, "a cat", "", ["Cold"])


def test_saved_style_is_listed_and_written_to_styles_csv(runtime: SimpleNamespace, tmp_path: Path) -> None:
    assert save_style(runtime, " Night ", "a cat at night", "sun") == "Saved style 'Night'"
    assert style_names(runtime) == ["Warm", "Night"]
    saved = {s.name: (s.prompt, s.negative_prompt) for s in read_styles_csv(tmp_path / "styles.csv")}
    assert saved == {"Warm": ("{prompt}, warm light", "cold"), "Night": ("a cat at night", "sun")}


def test_a_style_needs_a_name(runtime: SimpleNamespace) -> None:
    with pytest.raises(ValueError, match="give the style a name first"):
        save_style(runtime, "  ", "x", "")


def test_no_styles_database_means_an_empty_list() -> None:
    assert style_names(SimpleNamespace()) == []


def test_counter_text_marks_prompts_past_the_first_chunk() -> None:
    assert counter_text(12, 75) == "<span>12/75</span>"
    assert counter_text(80, 150) == '<span class="over">80/150</span>'


def test_counter_failure_shows_a_question_mark_not_an_error() -> None:
    broken = SimpleNamespace(settings=None)  # no settings: counting cannot work
    html = token_counter_html(broken, "a cat")
    assert html.startswith('<span class="error" title=') and html.endswith(">?/75</span>")
