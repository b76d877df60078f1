"""Display names of upscalers, as A1111 users and API clients spell them.

A1111 gives its downloadable models fixed names ("R-ESRGAN 4x+", "DAT x4"); scripts and saved
infotexts use them in `hr_upscaler`, so the same files here get the same names. Any other file is
named by its file name without the extension, as A1111 does.
"""

from __future__ import annotations

from pathlib import Path

BUILTIN_NAMES = ("None", "Lanczos", "Nearest")

LATENT_MODES: dict[str, tuple[str, bool]] = {
    # name -> (torch interpolate mode, antialias)
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}

_KNOWN_FILES: dict[str, str] = {
    "realesrgan_x4plus": "R-ESRGAN 4x+",
    "realesrgan_x4plus_anime_6b": "R-ESRGAN 4x+ Anime6B",
    "realesrgan_x2plus": "R-ESRGAN 2x+",
    "realesr-general-x4v3": "R-ESRGAN General 4xV3",
    "realesr-general-wdn-x4v3": "R-ESRGAN General WDN 4xV3",
    "realesr-animevideov3": "R-ESRGAN AnimeVideo",
    "dat_x2": "DAT x2",
    "dat_x3": "DAT x3",
    "dat_x4": "DAT x4",
    "swinir_4x": "SwinIR 4x",
}


def display_name(path: Path) -> str:
    """The name a model file is listed under."""
    return _KNOWN_FILES.get(path.stem.lower(), path.stem)


def latent_mode(name: str | None) -> tuple[str, bool] | None:
    """(interpolate mode, antialias) for a latent upscaler name, None for any other upscaler.

    A missing name means "Latent", as in A1111 where `hr_upscaler=None` upscales the latent bilinearly.
    """
    if not name:
        return LATENT_MODES["Latent"]
    for key, value in LATENT_MODES.items():
        if key.lower() == name.strip().lower():
            return value
    return None
