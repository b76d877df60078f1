"""File-name patterns: `[seed]-[prompt_words]` and friends, as A1111 expands them (reference §7).

Users keep their `samples_filename_pattern` and `directories_filename_pattern` when they move
from A1111, so every tag, argument form (`[datetime<%Y%m%d><Asia/Tokyo>]`, `[prompt_hash<8>]`,
`[hasprompt<cat|dog><sky>]`) and sanitising rule is kept. Unknown tags stay as written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image

RE_PATTERN = re.compile(r"(.*?)(?:\[([^\[\]]+)\]|$)", re.S)
RE_PATTERN_ARG = re.compile(r"(.*)<([^>]*)>$", re.S)  # the grammar; `split_tag_args` reads it linearly
RE_NONLETTERS = re.compile(r"[\s" + re.escape(string.punctuation) + r"]+")
INVALID_CHARS = '#<>:"/\\|?*\n\r\t'
UNIX_INVALID_CHARS = "/"
DEFAULT_TIME_FORMAT = "%Y%m%d%H%M%S"


class _Skip:
    """Marker: the tag has no meaning here, so it vanishes with the text before it."""


SKIP = _Skip()


@dataclass(frozen=True)
class FilenameContext:
    """What the pattern tags may name. A field left None makes its tag stay literal (as A1111).

    `scheduler_default` is the concrete schedule that "Automatic" means for this sampler
    (e.g. "karras" for DPM++ 2M); `style_prompts` are the prompt texts of `styles`, used by
    `[prompt_no_styles]`; `vae_file` is the loaded external VAE file, if any.
    """

    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str = ""
    all_seeds: tuple[int, ...] = ()
    steps: int | None = None
    cfg_scale: float | None = None
    sampler_name: str | None = None
    scheduler: str | None = None
    scheduler_default: str | None = None
    styles: tuple[str, ...] = ()
    style_prompts: tuple[str, ...] = ()
    model_hash: str | None = None
    model_name: str | None = None
    job_timestamp: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    batch_index: int = 0
    iteration: int = 0
    clip_skip: int = 1
    denoising_strength: float | None = None
    user: str | None = None
    vae_file: str | None = None
    zip: bool = False
    now: dt.datetime | None = None  # fixed clock for tests; None = the real time


def sanitize_filename_part(text: str | None, replace_spaces: bool = True, *, max_length: int = 128,
                           unix: bool = False) -> str | None:
    """Make text safe inside a file name: bad characters -> '_', no leading space, no trailing dot."""
    if text is None:
        return None
    if replace_spaces:
        text = text.replace(" ", "_")
    bad = UNIX_INVALID_CHARS if unix else INVALID_CHARS
    text = text.translate({ord(c): "_" for c in bad})
    return text.lstrip(" ")[:max_length].rstrip(" .")


def _number(value: str | None) -> int | None:
    return int(value) if value else None


class FilenameGenerator:
    """Expands a pattern for one image. Cheap to build; make one per saved image."""

    def __init__(self, context: FilenameContext, image: Image.Image | None = None, *, max_length: int = 128,
                 unix_sanitization: bool = False, max_prompt_words: int = 8) -> None:
        self.ctx = context
        self.image = image
        self.max_length = max_length
        self.unix = unix_sanitization
        self.max_prompt_words = max_prompt_words
        self.tags: dict[str, Callable[..., object]] = {
            "seed": lambda: self.ctx.seed if self.ctx.seed is not None else "",
            "seed_first": self._seed_first,
            "seed_last": self._seed_last,
            "steps": lambda: self.ctx.steps,
            "cfg": lambda: self.ctx.cfg_scale,
            "width": lambda: self.image.width if self.image else None,
            "height": lambda: self.image.height if self.image else None,
            "styles": self._styles,
            "sampler": lambda: self._clean(self.ctx.sampler_name, spaces=False),
            "sampler_scheduler": lambda: self._sampler_scheduler(with_sampler=True),
            "scheduler": lambda: self._sampler_scheduler(with_sampler=False),
            "model_hash": lambda: self.ctx.model_hash,
            "model_name": lambda: self._clean(self.ctx.model_name, spaces=False),
            "date": lambda: self._now().strftime("%Y-%m-%d"),
            "datetime": self._datetime,
            "job_timestamp": lambda: self.ctx.job_timestamp or self._now().strftime(DEFAULT_TIME_FORMAT),
            "prompt_hash": lambda n=None: _sha256(self.ctx.prompt or "", n),
            "negative_prompt_hash": lambda n=None: _sha256(self.ctx.negative_prompt, n),
            "full_prompt_hash": lambda n=None: _sha256(f"{self.ctx.prompt or ''} {self.ctx.negative_prompt}",
                                                       n),
            "prompt": lambda: self._clean(self.ctx.prompt),
            "prompt_no_styles": self._prompt_no_styles,
            "prompt_spaces": lambda: self._clean(self.ctx.prompt, spaces=False),
            "prompt_words": self._prompt_words,
            "batch_number": self._batch_number,
            "batch_size": lambda: self.ctx.batch_size,
            "generation_number": self._generation_number,
            "hasprompt": self._hasprompt,
            "clip_skip": lambda: self.ctx.clip_skip,
            "denoising": lambda: self.ctx.denoising_strength if self.ctx.denoising_strength else SKIP,
            "user": lambda: self.ctx.user,
            "vae_filename": self._vae_filename,
            "none": lambda: "",
            "image_hash": self._image_hash,
        }

    # --- expansion ---------------------------------------------------------------------
    def apply(self, pattern: str) -> str:
        """Expand every `[tag]` / `[tag<arg>...]`; unknown or unavailable tags stay literal."""
        out = []
        for m in RE_PATTERN.finditer(pattern):
            text, tag = m.group(1), m.group(2)
            if tag is None:
                out.append(text)
                continue
            value = self._expand(tag)
            if value is SKIP:
                continue
            out.append(text + (f"[{tag}]" if value is None else str(value)))
        return "".join(out)

    def _expand(self, tag: str) -> object:
        name, args = split_tag_args(tag)
        fn = self.tags.get(name.lower())
        if fn is None:
            return None
        try:
            return fn(*args)
        except (TypeError, ValueError, AttributeError, IndexError):  # wrong arguments: keep the tag literal
            return None

    # --- tags --------------------------------------------------------------------------
    def _clean(self, text: str | None, spaces: bool = True) -> str | None:
        return sanitize_filename_part(text, spaces, max_length=self.max_length, unix=self.unix)

    def _now(self) -> dt.datetime:
        return self.ctx.now or dt.datetime.now()

    def _seed_first(self) -> object:
        return self.ctx.seed if self.ctx.batch_size == 1 or not self.ctx.all_seeds else self.ctx.all_seeds[0]

    def _seed_last(self) -> object:
        return SKIP if self.ctx.batch_size == 1 or not self.ctx.all_seeds else self.ctx.all_seeds[-1]

    def _styles(self) -> str | None:
        names = ", ".join(s for s in self.ctx.styles if s != "None")
        return self._clean(names or "None", spaces=False)

    def _sampler_scheduler(self, with_sampler: bool) -> object:
        """A1111 writes the scheduler capitalised, with "Automatic" resolved for the sampler."""
        if self.ctx.sampler_name is None or self.ctx.scheduler is None:
            return SKIP
        scheduler = self.ctx.scheduler
        if scheduler == "Automatic":
            scheduler = self.ctx.scheduler_default or "Automatic"
        text = scheduler.capitalize()
        return self._clean(f"{self.ctx.sampler_name} {text}" if with_sampler else text, spaces=False)

    def _datetime(self, fmt: str = "", zone: str | None = None) -> str | None:
        tz = None
        if zone:
            try:
                tz = ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                tz = None
        moment = self._now().astimezone(tz)
        try:
            text = moment.strftime(fmt or DEFAULT_TIME_FORMAT)
        except (ValueError, TypeError):
            text = moment.strftime(DEFAULT_TIME_FORMAT)
        return self._clean(text, spaces=False)

    def _prompt_no_styles(self) -> str | None:
        """The prompt minus the text its styles added (including around `{prompt}`)."""
        if self.ctx.prompt is None:
            return None
        prompt = self.ctx.prompt
        for style in self.ctx.style_prompts:
            if not style:
                continue
            for part in style.split("{prompt}"):
                prompt = prompt.replace(part, "").replace(", ,", ",").strip().strip(",")
            prompt = prompt.replace(style, "").strip().strip(",").strip()
        return self._clean(prompt, spaces=False)

    def _prompt_words(self) -> str | None:
        words = [w for w in RE_NONLETTERS.split(self.ctx.prompt or "") if w] or ["empty"]
        return self._clean(" ".join(words[: self.max_prompt_words]), spaces=False)

    def _batch_number(self) -> object:
        return SKIP if self.ctx.batch_size == 1 or self.ctx.zip else self.ctx.batch_index + 1

    def _generation_number(self) -> object:
        if (self.ctx.n_iter == 1 and self.ctx.batch_size == 1) or self.ctx.zip:
            return SKIP
        return self.ctx.iteration * self.ctx.batch_size + self.ctx.batch_index + 1

    def _hasprompt(self, *args: str) -> str | None:
        """`[hasprompt<cat|nocat><dog>]`: each word present in the prompt, else its default."""
        if self.ctx.prompt is None:
            return None
        lower = self.ctx.prompt.lower()
        out = ""
        for arg in args:
            if not arg:
                continue
            expected, _, default = arg.partition("|")
            expected = expected.lower()
            out += expected if expected in lower else default
        return self._clean(out)

    def _vae_filename(self) -> str:
        """The VAE file's first dotted part; "NoneType" without one (A1111's literal output)."""
        if not self.ctx.vae_file:
            return "NoneType"
        parts = os.path.basename(self.ctx.vae_file).split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "" else parts[0]

    def _image_hash(self, length: str = "") -> str | None:
        if self.image is None:
            return None
        return hashlib.sha256(self.image.tobytes()).hexdigest()[: _number(length)]


def split_tag_args(tag: str) -> tuple[str, list[str]]:
    """`datetime<%Y><UTC>` -> ("datetime", ["%Y", "UTC"]), peeling `<arg>` off the end as
    `RE_PATTERN_ARG` does, with one backward scan per argument instead of a regex retried at
    every `<` (quadratic on a tag full of `<`)."""
    args: list[str] = []
    end = len(tag)
    while True:
        close = end - 1 if tag.endswith(">", 0, end) else end - 2 if tag.endswith(">\n", 0, end) else -1
        opening = tag.rfind("<", 0, close) if close > 0 else -1
        if opening < 0 or tag.find(">", opening + 1, close) >= 0:
            break
        args.append(tag[opening + 1:close])
        end = opening
    name = tag[:end]
    args.reverse()
    return name, args


def _sha256(text: str, length: str | None = None) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[: _number(length)]


def get_next_sequence_number(directory: str | os.PathLike[str], basename: str) -> int:
    """1 + the largest leading number among `directory`'s files named `<basename>-N...` (0 if none)."""
    prefix = f"{basename}-" if basename else ""
    result = -1
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        if not name.startswith(prefix):
            continue
        first = os.path.splitext(name[len(prefix):])[0].split("-")[0]
        try:
            result = max(result, int(first))
        except ValueError:
            continue
    return result + 1
