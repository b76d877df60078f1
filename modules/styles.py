"""Prompt styles (styles.csv): saved prompt/negative-prompt snippets applied by name.

A1111 file format and rules: CSV with the columns name, prompt, negative_prompt (an old
"name, text" layout is still read); UTF-8 with or without BOM; rows whose name starts with "#"
are comments. A style containing `{prompt}` wraps the prompt, otherwise it is appended with
", ". Several files may be given (wildcards allowed, like `--styles-file`); each style
remembers its file and is saved back there. Unlike A1111, an unknown style name is an error
(A1111 silently ignores it) and saving is durable (unique temp file, fsync, rename, a .bak copy of the
last good file), and a damaged file is moved aside, reported, and restored from that copy.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from modules.storage.durable_file import read_recovering, warn_everywhere, write_durably

logger = logging.getLogger(__name__)

FIELDS = ("name", "prompt", "negative_prompt")
PLACEHOLDER = "{prompt}"


class UnknownStyleError(KeyError):
    """A requested style name is not in any styles file."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""
    path: Path | None = None  # the file it came from / is saved to


def merge_prompts(style_prompt: str, prompt: str) -> str:
    """One style applied to a prompt: `{prompt}` is replaced, else ", "-appended (empty parts skipped)."""
    if PLACEHOLDER in style_prompt:
        return style_prompt.replace(PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_prompt.strip()) if part)


def apply_styles_to_prompt(prompt: str, styles_prompts: list[str]) -> str:
    """Apply style texts in order.

    >>> apply_styles_to_prompt("a cat", ["oil painting", "best quality, {prompt}"])
    'best quality, a cat, oil painting'
    """
    for style_prompt in styles_prompts:
        prompt = merge_prompts(style_prompt, prompt)
    return prompt


def _remove_style_text(style_text: str, prompt: str) -> tuple[bool, str]:
    """Undo `merge_prompts` for one style text; (matched, remaining prompt)."""
    stripped, style = prompt.strip(), style_text.strip()
    if PLACEHOLDER in style:
        left, _, right = style.partition(PLACEHOLDER)
        if stripped.startswith(left) and stripped.endswith(right) and len(stripped) >= len(left) + len(right):
            return True, stripped[len(left):len(stripped) - len(right)]
        return False, prompt
    if stripped.endswith(style):
        rest = stripped[:len(stripped) - len(style)]
        return True, rest[:-2] if rest.endswith(", ") else rest
    return False, prompt


def _extract_style(style: PromptStyle, prompt: str, negative: str) -> tuple[bool, str, str]:
    """A style is found only if both its prompt and negative parts can be removed."""
    if not style.prompt and not style.negative_prompt:
        return False, prompt, negative
    found_positive, new_prompt = _remove_style_text(style.prompt, prompt)
    if not found_positive:
        return False, prompt, negative
    found_negative, new_negative = _remove_style_text(style.negative_prompt, negative)
    if not found_negative:
        return False, prompt, negative
    return True, new_prompt, new_negative


def expand_style_paths(patterns: list[Path]) -> list[Path]:
    """Files named by the patterns, in order, without duplicates; a plain path is kept even
    if it does not exist yet (it is where new styles go)."""
    found: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        is_pattern = any(c in Path(text).name for c in "*?[")
        matches = sorted(Path(p) for p in glob.glob(text)) if is_pattern else [Path(text)]
        found.extend(m for m in matches if m not in found)
    return found


class StyleDatabase:
    """All styles from the configured files, by name (later files win on equal names)."""

    def __init__(self, paths: list[Path]) -> None:
        if not paths:
            raise ValueError("StyleDatabase needs at least one styles file path (e.g. styles.csv)")
        self.patterns = [Path(p) for p in paths]
        self.styles: dict[str, PromptStyle] = {}
        self.load_errors: list[str] = []
        self.reload()

    @property
    def default_path(self) -> Path:
        """Where new styles are saved: the first file (or styles.csv beside the first pattern)."""
        files = expand_style_paths(self.patterns[:1])
        first = self.patterns[0]
        return files[0] if files else first.parent / "styles.csv"

    def reload(self) -> None:
        """Read all files again; a broken file is reported in `load_errors` (and logged) so
        that one bad styles.csv does not stop the app."""
        self.styles, self.load_errors = {}, []
        for path in expand_style_paths(self.patterns):
            if not path.is_file():
                continue
            try:
                recovered = read_recovering(path, lambda text, p=path: parse_styles_text(text, p),
                                            encoding="utf-8-sig")
            except OSError as exc:
                self.load_errors.append(f"could not read styles from {path}: {exc}")
                warn_everywhere(self.load_errors[-1:])
                continue
            self.load_errors.extend(recovered.warnings)
            warn_everywhere(recovered.warnings)
            self.styles.update({s.name: s for s in recovered.value or []})

    def get(self, name: str) -> PromptStyle:
        try:
            return self.styles[name]
        except KeyError:
            known = ", ".join(sorted(self.styles)) or "none defined"
            raise UnknownStyleError(f"unknown style {name!r}; known styles: {known}. "
                                    "Add it to styles.csv or pick one from the list.") from None

    def apply_styles_to_prompt(self, prompt: str, style_names: list[str]) -> str:
        return apply_styles_to_prompt(prompt, [self.get(n).prompt for n in style_names])

    def apply_negative_styles_to_prompt(self, prompt: str, style_names: list[str]) -> str:
        return apply_styles_to_prompt(prompt, [self.get(n).negative_prompt for n in style_names])

    def apply_styles(self, prompt: str, negative: str, style_names: list[str]) -> tuple[str, str]:
        """Both prompts with the named styles applied in order; unknown names raise."""
        styles = [self.get(n) for n in style_names]
        return (apply_styles_to_prompt(prompt, [s.prompt for s in styles]),
                apply_styles_to_prompt(negative, [s.negative_prompt for s in styles]))

    def extract_styles_from_prompt(self, prompt: str, negative: str) -> tuple[list[str], str, str]:
        """Find which styles a pasted prompt pair was built from and remove them.

        Returns (style names in application order, remaining prompt, remaining negative): A1111's
        order, which `modules.infotext.parse_generation_parameters(extract_styles=...)` expects.
        """
        candidates = list(self.styles.values())
        found: list[str] = []
        while True:
            for style in candidates:
                matched, new_prompt, new_negative = _extract_style(style, prompt, negative)
                if matched:
                    prompt, negative = new_prompt, new_negative
                    candidates.remove(style)
                    found.append(style.name)
                    break
            else:
                return list(reversed(found)), prompt, negative

    def set_style(self, name: str, prompt: str, negative_prompt: str,
                  path: Path | None = None) -> PromptStyle:
        """Add or replace a style (kept in its old file unless `path` is given)."""
        if not name.strip():
            raise ValueError("a style needs a non-empty name")
        old = self.styles.get(name)
        target = path or (old.path if old else None) or self.default_path
        self.styles[name] = style = PromptStyle(name, prompt, negative_prompt, Path(target))
        return style

    def delete_style(self, name: str) -> None:
        self.get(name)
        del self.styles[name]

    def save_styles(self) -> None:
        """Write every styles file atomically (each keeps the styles that came from it)."""
        paths = {s.path for s in self.styles.values() if s.path is not None}
        paths.update(p for p in expand_style_paths(self.patterns) if p.is_file())
        for path in paths:
            write_styles_csv(path, [s for s in self.styles.values() if s.path == path])


def read_styles_csv(path: Path) -> list[PromptStyle]:
    """Styles of one file; accepts the old (name, text) columns; skips "#" comment rows."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        return parse_styles_text(file.read(), path)


def parse_styles_text(text: str, path: Path) -> list[PromptStyle]:
    """Styles from a styles.csv text. A file cut inside a quoted field (a crash while an older
    version wrote it) is an error naming the last style read, instead of silently swallowing
    every style after the cut into one prompt."""
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    styles: list[PromptStyle] = []
    try:
        if reader.fieldnames is None:
            return []
        if "name" not in reader.fieldnames:
            raise ValueError(f"{path.name} is not a styles file: its first row must be the header "
                             f"'name,prompt,negative_prompt' (found {reader.fieldnames})")
        for row in reader:
            name = row.get("name") or ""
            if not name or name.startswith("#"):
                continue
            prompt = row.get("prompt", row.get("text")) or ""
            styles.append(PromptStyle(name, prompt, row.get("negative_prompt") or "", path))
    except csv.Error as e:
        after = f"after style {styles[-1].name!r}" if styles else "before the first style"
        raise ValueError(f"{path.name} is cut off or damaged at line {reader.line_num} ({e}): "
                         f"the styles {after} could not be read") from e
    return styles


def styles_csv_text(styles: list[PromptStyle]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for style in styles:
        writer.writerow({"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt})
    return buffer.getvalue()


def write_styles_csv(path: Path, styles: list[PromptStyle]) -> None:
    """Durable write (unique temp file, fsync, rename); the written copy is kept as .bak."""
    write_durably(path, styles_csv_text(styles), encoding="utf-8-sig")
