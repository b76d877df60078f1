"""styles.csv: reading A1111 files, applying and extracting styles, atomic saving."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.styles import (
    StyleDatabase,
    UnknownStyleError,
    apply_styles_to_prompt,
    merge_prompts,
    read_styles_csv,
)

CSV = (
    "name,prompt,negative_prompt\n"
    "Cinematic,\"cinematic still, {prompt}, film grain\",\"cartoon, painting\"\n"
    "Sharp,\"sharp focus, 8k\",blurry\n"
    "Only negative,,\"lowres, watermark\"\n"
    "# comment,ignored,ignored\n"
)


@pytest.fixture
def db(tmp_path: Path) -> StyleDatabase:
    path = tmp_path / "styles.csv"
    path.write_text("\ufeff" + CSV, encoding="utf-8")  # A1111 writes a BOM
    return StyleDatabase([path])


@pytest.mark.parametrize(("style", "prompt", "expected"), [
    ("oil painting", "a cat", "a cat, oil painting"),
    ("oil painting", "", "oil painting"),
    ("oil painting", "  a cat  ", "a cat, oil painting"),
    ("", "a cat", "a cat"),
    ("best, {prompt}, detailed", "a cat", "best, a cat, detailed"),
    ("{prompt} and {prompt}", "x", "x and x"),
])
def test_merge_prompts(style: str, prompt: str, expected: str) -> None:
    assert merge_prompts(style, prompt) == expected


def test_styles_apply_in_order() -> None:
    assert apply_styles_to_prompt("a cat", ["{prompt}, red", "blue"]) == "a cat, red, blue"
    assert apply_styles_to_prompt("a cat", ["blue", "{prompt}, red"]) == "a cat, blue, red"


def test_reads_a1111_file(db: StyleDatabase) -> None:
    assert list(db.styles) == ["Cinematic", "Sharp", "Only negative"]
    assert db.styles["Cinematic"].prompt == "cinematic still, {prompt}, film grain"
    assert db.styles["Only negative"].prompt == ""


def test_apply_styles(db: StyleDatabase) -> None:
    prompt, negative = db.apply_styles("a cat", "ugly", ["Cinematic", "Sharp"])
    assert prompt == "cinematic still, a cat, film grain, sharp focus, 8k"
    assert negative == "ugly, cartoon, painting, blurry"


def test_unknown_style_is_a_clear_error(db: StyleDatabase) -> None:
    message = "unknown style 'Nope'; known styles: Cinematic, Only negative, Sharp"
    with pytest.raises(UnknownStyleError, match=message):
        db.apply_styles("a", "", ["Sharp", "Nope"])


def test_extract_styles_round_trip(db: StyleDatabase) -> None:
    prompt, negative = db.apply_styles("a cat", "ugly", ["Cinematic", "Sharp"])
    assert db.extract_styles_from_prompt(prompt, negative) == (["Cinematic", "Sharp"], "a cat", "ugly")


def test_extract_needs_both_parts(db: StyleDatabase) -> None:
    # the prompt ends with Sharp's text but the negative lacks "blurry": not extracted
    assert db.extract_styles_from_prompt("a cat, sharp focus, 8k", "ugly") == \
        ([], "a cat, sharp focus, 8k", "ugly")
    assert db.extract_styles_from_prompt("a cat", "ugly, lowres, watermark") == \
        (["Only negative"], "a cat", "ugly")


def test_old_name_text_layout_and_bad_header(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text("name,text\nVintage,sepia\n", encoding="utf-8")
    assert [(s.name, s.prompt, s.negative_prompt) for s in read_styles_csv(old)] == [("Vintage", "sepia", "")]
    bad = tmp_path / "bad.csv"
    bad.write_text("title,prompt\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header 'name,prompt,negative_prompt'"):
        read_styles_csv(bad)
    db = StyleDatabase([bad, old])  # a broken file is reported, the others still load
    assert list(db.styles) == ["Vintage"] and "bad.csv" in db.load_errors[0]


def test_save_round_trip_is_atomic_with_backup(db: StyleDatabase, tmp_path: Path) -> None:
    path = tmp_path / "styles.csv"
    db.set_style("New", 'with "quotes", and commas', "neg\nwith newline")
    db.delete_style("Sharp")
    db.save_styles()
    assert (tmp_path / "styles.csv.bak").read_bytes() == path.read_bytes()  # the last good copy
    assert not list(tmp_path.glob(".styles.csv.*.tmp"))
    assert path.read_bytes().startswith(b"\xef\xbb\xbfname,prompt,negative_prompt\r\n")
    again = StyleDatabase([path])
    assert list(again.styles) == ["Cinematic", "Only negative", "New"]
    assert again.styles["New"].prompt == 'with "quotes", and commas'
    assert again.styles["New"].negative_prompt == "neg\nwith newline"


def test_missing_file_is_empty_and_saving_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "styles.csv"
    db = StyleDatabase([path])
    assert db.styles == {} and db.load_errors == []
    db.set_style("A", "x", "")
    db.save_styles()
    assert [s.name for s in read_styles_csv(path)] == ["A"]


def test_wildcard_paths_and_per_file_saving(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("name,prompt,negative_prompt\nA,pa,na\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("name,prompt,negative_prompt\nB,pb,nb\n", encoding="utf-8")
    db = StyleDatabase([tmp_path / "*.csv"])
    assert list(db.styles) == ["A", "B"] and db.default_path == tmp_path / "a.csv"
    db.set_style("B", "pb2", "nb")
    db.save_styles()
    assert [s.prompt for s in read_styles_csv(tmp_path / "b.csv")] == ["pb2"]
    assert [s.name for s in read_styles_csv(tmp_path / "a.csv")] == ["A"]
