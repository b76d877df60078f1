"""Infotext: the `parameters` text A1111 writes into every image, and its reader.

Users paste these texts between tools (A1111, Forge, Civitai, ComfyUI importers), so the
format is reproduced byte for byte (reference §6): prompt, optional `Negative prompt:` line,
one line of `Key: value` pairs in a fixed order. Pure functions, no settings object: the
caller passes the few options that matter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from modules.parsing.breaks import split_on_break
from modules.parsing.infotext_pairs import find_pairs
from modules.parsing.weighted_pieces import WeightedPieces

# Longest infotext read (characters). Real ones stay far below (a 75-token prompt plus the
# parameters is ~1 KB); the reader is linear, the cap keeps a pasted novel from costing anything.
MAX_INFOTEXT_CHARS = 131072
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
NEGATIVE_PREFIX = "Negative prompt:"

# (prompt, negative) -> (found style names, prompt without them, negative without them)
StyleExtractor = Callable[[str, str], tuple[list[str], str, str]]

# Keys filled in when absent, so that pasting an old infotext resets the matching widgets.
PASTE_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("Clip skip", "1"),
    ("Hires resize-1", 0),
    ("Hires resize-2", 0),
    ("Hires sampler", "Use same sampler"),
    ("Hires schedule type", "Use same scheduler"),
    ("Hires checkpoint", "Use same checkpoint"),
    ("Hires prompt", ""),
    ("Hires negative prompt", ""),
    ("Mask mode", "Inpaint masked"),
    ("Masked content", "original"),
    ("Inpaint area", "Whole picture"),
    ("Masked area padding", 32),
)
LATE_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("RNG", "GPU"),
    ("Schedule type", "Automatic"),
    ("Schedule max sigma", 0),
    ("Schedule min sigma", 0),
    ("Schedule rho", 0),
    ("VAE Encoder", "Full"),
    ("VAE Decoder", "Full"),
    ("FP8 weight", "Disable"),
)

# Versions at which A1111 changed behaviour that a pasted infotext must reproduce.
V160 = (1, 6, 0, 0)
V170_TSNR = (1, 7, 0, 225)
V180 = (1, 8, 0, 0)
V180_HR_STYLES = (1, 8, 0, 139)


def quote(v: Any) -> str:
    """Quote a value only when it would break the `Key: value, ...` line (A1111's rule)."""
    text = str(v)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(s: str) -> str:
    """Undo `quote`; anything that is not a valid JSON string is returned unchanged."""
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return s
    try:
        value = json.loads(s)
    except ValueError:
        return s
    return value if isinstance(value, str) else s


def build_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """Join prompt, negative prompt and the ordered params the way A1111 does.

    `params` must already be in A1111's key order (see `ordered_generation_params`).
    """
    pairs = ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None)
    negative = f"\n{NEGATIVE_PREFIX} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{pairs}".strip()


def _size(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    width, height = value
    return f"{width}x{height}"


def ordered_generation_params(
    *,
    steps: int | None = None,
    sampler: str | None = None,
    schedule_type: str | None = None,
    cfg_scale: float | None = None,
    image_cfg_scale: float | None = None,
    seed: int | None = None,
    face_restoration: str | None = None,
    size: str | tuple[int, int] | None = None,
    model_hash: str | None = None,
    model: str | None = None,
    fp8_weight: str | None = None,
    cache_fp16_weight_for_lora: bool | None = None,
    vae_hash: str | None = None,
    vae: str | None = None,
    variation_seed: int | None = None,
    variation_seed_strength: float | None = None,
    seed_resize_from: str | tuple[int, int] | None = None,
    denoising_strength: float | None = None,
    conditional_mask_weight: float | None = None,
    clip_skip: int | None = None,
    ensd: int | None = None,
    token_merging_ratio: float | None = None,
    token_merging_ratio_hr: float | None = None,
    init_image_hash: str | None = None,
    rng: str | None = None,
    tiling: bool = False,
    extras: Mapping[str, Any] | None = None,
    version: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """The infotext dict in A1111's fixed key order; None means "leave the key out".

    Clip skip appears only above 1, RNG only when not "GPU", Tiling only when on (as A1111).
    `extras` (hires, inpaint, LoRA hashes, scripts) follow in insertion order; an extra whose
    key is already above replaces the value but keeps the position, as in A1111.
    """
    params: dict[str, Any] = {
        "Steps": steps,
        "Sampler": sampler,
        "Schedule type": schedule_type,
        "CFG scale": cfg_scale,
        "Image CFG scale": image_cfg_scale,
        "Seed": seed,
        "Face restoration": face_restoration,
        "Size": _size(size),
        "Model hash": model_hash,
        "Model": model,
        "FP8 weight": fp8_weight,
        "Cache FP16 weight for LoRA": cache_fp16_weight_for_lora,
        "VAE hash": vae_hash,
        "VAE": vae,
        "Variation seed": variation_seed,
        "Variation seed strength": variation_seed_strength,
        "Seed resize from": _size(seed_resize_from),
        "Denoising strength": denoising_strength,
        "Conditional mask weight": conditional_mask_weight,
        "Clip skip": clip_skip if clip_skip is not None and clip_skip > 1 else None,
        "ENSD": ensd,
        "Token merging ratio": token_merging_ratio,
        "Token merging ratio hr": token_merging_ratio_hr,
        "Init image hash": init_image_hash,
        "RNG": rng if rng and rng != "GPU" else None,
        "Tiling": "True" if tiling else None,
    }
    params.update(extras or {})
    params["Version"] = version
    params["User"] = user
    return params


# --- reader ------------------------------------------------------------------------------


class InfotextTooLongError(ValueError):
    """An infotext longer than any real one; the message gives the limit."""


def check_infotext_length(text: str, what: str = "infotext") -> None:
    if len(text) > MAX_INFOTEXT_CHARS:
        raise InfotextTooLongError(f"{what} is {len(text)} characters long; the limit is {MAX_INFOTEXT_CHARS} "
                                   "(a real infotext is a few KB: send the prompt and parameters only)")


def _split_text(text: str) -> tuple[str, str, str]:
    """(prompt, negative prompt, params line); the last line is params only with >= 3 pairs."""
    *lines, last = text.replace("\r\n", "\n").strip().split("\n")
    if len(find_pairs(last)) < 3:
        lines.append(last)
        last = ""
    prompt = negative = ""
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].strip()
        if in_negative:
            negative += ("\n" if negative else "") + line
        else:
            prompt += ("\n" if prompt else "") + line
    return prompt, negative, last


def _parse_pairs(line: str) -> dict[str, Any]:
    """Values stay strings; "AxB" becomes `<key>-1`/`<key>-2`. Empty values are dropped (as A1111)."""
    res: dict[str, Any] = {}
    for key, value in find_pairs(line):
        if not value:
            continue
        if value[0] == '"' and value[-1] == '"':
            value = unquote(value)
        size = RE_IMAGESIZE.match(value)
        if size:
            res[f"{key}-1"], res[f"{key}-2"] = size.group(1), size.group(2)
        else:
            res[key] = value
    return res


def parse_version(text: str | None) -> tuple[int, int, int, int] | None:
    """`v1.7.0-225-gabc` -> (1, 7, 0, 225); a release is post 0, an RC is post -1; else None."""
    if not text:
        return None
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)(?:-(\w+))?", text.strip())
    if not m:
        return None
    tail = m.group(4)
    post = int(tail) if tail and tail.isdigit() else (-1 if tail else 0)
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), post


def _apply_styles(res: dict[str, Any], prompt: str, negative: str, extract: StyleExtractor | None,
                  mode: str) -> tuple[str, str]:
    """Remove known styles from the prompts (setting `infotext_styles`); hires prompts likewise."""
    if extract is None or mode == "Ignore":
        return prompt, negative
    found, prompt_ns, negative_ns = extract(prompt, negative)
    same_hr_styles = True
    version = parse_version(res.get("Version"))
    has_hires_prompts = "Hires prompt" in res or "Hires negative prompt" in res
    if has_hires_prompts and (version is None or version > V180_HR_STYLES):
        hr_prompt, hr_negative = res.get("Hires prompt", prompt), res.get("Hires negative prompt", negative)
        hr_found, hr_prompt_ns, hr_negative_ns = extract(hr_prompt, hr_negative)
        same_hr_styles = found == hr_found
        if same_hr_styles:
            res["Hires prompt"] = "" if hr_prompt_ns == prompt_ns else hr_prompt_ns
            res["Hires negative prompt"] = "" if hr_negative_ns == negative_ns else hr_negative_ns
    if not same_hr_styles:
        return prompt, negative
    if (mode == "Apply if any" and found) or mode == "Apply":
        res["Styles array"] = found
    return prompt_ns, negative_ns


def old_hires_first_pass_size(width: int, height: int) -> tuple[int, int]:
    """Pre-1.0 hires fix: a first pass of about 512*512 pixels, sides rounded up to 64."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def _restore_first_pass_size(res: dict[str, Any]) -> None:
    """Old infotexts name the first pass size; the modern form is Size + Hires resize."""
    first_w, first_h = res.get("First pass size-1"), res.get("First pass size-2")
    if first_w is None or first_h is None:
        return
    first_w, first_h = int(first_w), int(first_h)
    width, height = int(res.get("Size-1", 512)), int(res.get("Size-2", 512))
    if first_w == 0 or first_h == 0:
        first_w, first_h = old_hires_first_pass_size(width, height)
    res["Size-1"], res["Size-2"] = first_w, first_h
    res["Hires resize-1"], res["Hires resize-2"] = width, height


def _backcompat(res: dict[str, Any]) -> None:
    """Turn on the compatibility options that the infotext's Version implies."""
    version = parse_version(res.get("Version"))
    if version is None:
        return
    if version < V160 and "[" in res.get("Prompt", ""):
        res["Old prompt editing timelines"] = True
    if version < V160 and res.get("Sampler", "") in ("DDIM", "PLMS"):
        res["Pad conds v0"] = True
    if version < V170_TSNR:
        res["Downcast alphas_cumprod"] = True
    if version < V180 and res.get("Refiner"):
        res["Refiner switch by sampling steps"] = True


def parse_generation_parameters(
    text: str,
    skip_fields: list[str] | None = None,
    *,
    extract_styles: StyleExtractor | None = None,
    styles_mode: str = "Apply if any",
    uses_emphasis: Callable[[str], bool] | None = None,
    backcompat: bool = True,
) -> dict[str, Any]:
    """Read an infotext into `{key: value}` exactly as A1111's paste does (values stay strings).

    Longer than MAX_INFOTEXT_CHARS raises InfotextTooLongError (a 4xx in the API).
    `extract_styles` is `StyleDatabase.extract_styles_from_prompt`; `styles_mode` is the
    `infotext_styles` setting; `uses_emphasis` decides whether to add `Emphasis: Original`
    (defaults to a small attention scanner); `backcompat` is the `auto_backcompat` setting.
    """
    check_infotext_length(text)
    prompt, negative, last = _split_text(text)
    res = _parse_pairs(last)
    prompt, negative = _apply_styles(res, prompt, negative, extract_styles, styles_mode)
    res["Prompt"], res["Negative prompt"] = prompt, negative
    for key, value in PASTE_DEFAULTS:
        res.setdefault(key, value)
    if res.get("Hypernet") is not None:
        res["Prompt"] += f"<hypernet:{res['Hypernet']}:{res.get('Hypernet strength', '1.0')}>"
    _restore_first_pass_size(res)
    for key, value in LATE_DEFAULTS:
        res.setdefault(key, value)
    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False
    emphasis = uses_emphasis or prompt_uses_emphasis
    if "Emphasis" not in res and (emphasis(prompt) or emphasis(negative)):
        res["Emphasis"] = "Original"
    res.setdefault("Refiner switch by sampling steps", False)
    if backcompat:
        _backcompat(res)
    for key in skip_fields or []:
        res.pop(key, None)
    return res


# --- emphasis detection (only whether any text ends up with a weight other than 1) --------

RE_ATTENTION = re.compile(r"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _attention_weights(text: str) -> list[float]:
    """Weights of the text pieces under A1111's `(a)`, `[a]`, `(a:1.3)` rules."""
    pieces = WeightedPieces()
    round_open: list[int] = []
    square_open: list[int] = []
    for m in RE_ATTENTION.finditer(text):
        token, weight = m.group(0), m.group(1)
        if token.startswith("\\"):
            pieces.append(token[1:])
        elif token == "(":
            round_open.append(len(pieces))
        elif token == "[":
            square_open.append(len(pieces))
        elif weight is not None and round_open and _is_number(weight):
            pieces.scale_from(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            pieces.scale_from(round_open.pop(), 1.1)
        elif token == "]" and square_open:
            pieces.scale_from(square_open.pop(), 1 / 1.1)
        else:
            for part in split_on_break(token):
                if part:
                    pieces.append(part)
    for start in round_open:
        pieces.scale_from(start, 1.1)
    for start in square_open:
        pieces.scale_from(start, 1 / 1.1)
    return pieces.weights()


def prompt_uses_emphasis(text: str) -> bool:
    """True when some part of the prompt is weighted (A1111 then records `Emphasis`)."""
    if "(" not in text and "[" not in text:  # only an opening bracket can change a weight
        return False
    return any(w != 1.0 for w in _attention_weights(text))
