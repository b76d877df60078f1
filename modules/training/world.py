"""The demo model's small world: one coloured shape on a coloured background, with its caption.

Why a generated world: the app ships a model it trained itself, offline, in minutes on a CPU, and
tests need pictures whose meaning can be checked by a program (see judge.py). Everything here is a
pure function of a seed, so a training run, its dataset and its evaluation are reproducible.

Vocabulary (fixed sRGB values, chosen far apart so a blurry picture still maps to the right name):

    red (220, 30, 30)      green (30, 170, 50)    blue (30, 60, 220)     yellow (240, 220, 30)
    white (245, 245, 245)  black (15, 15, 15)     orange (245, 140, 20)  purple (140, 50, 190)

Shapes: circle, square (axis-aligned), triangle (upright, base at the bottom). A shape is centred
within ±6 px of the image centre with a half-size of 11–18 px (at 64×64), so it never touches the
border, which the judge reads as background. Caption: "a {colour} {shape} on a {colour} background"
with different shape and background colours: 8 × 7 × 3 = 168 scenes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "orange": (245, 140, 20),
    "purple": (140, 50, 190),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
NATIVE_SIZE = 64
SUPERSAMPLE = 4  # anti-aliased edges, like a real picture (and like what a VAE can reproduce)
CENTRE_JITTER = 6 / 64  # fraction of the image side
HALF_SIZE_RANGE = (11 / 64, 18 / 64)

# Scenes never shown in training, so evaluation can test composition (8 of 168, all shapes and
# all colours still seen elsewhere in both roles).
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("red", "triangle", "green"),
    ("blue", "circle", "yellow"),
    ("yellow", "square", "purple"),
    ("white", "triangle", "black"),
    ("black", "circle", "orange"),
    ("orange", "square", "blue"),
    ("purple", "circle", "white"),
    ("green", "square", "red"),
)


@dataclass(frozen=True)
class Scene:
    """One picture's content: what the caption says plus where exactly the shape is drawn."""

    colour: str
    shape: str
    background: str
    centre: tuple[float, float] = (0.5, 0.5)  # (x, y) as fractions of the side
    half_size: float = 0.22  # fraction of the side

    @property
    def caption(self) -> str:
        return caption_for(self.colour, self.shape, self.background)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.colour, self.shape, self.background)


def caption_for(colour: str, shape: str, background: str) -> str:
    """The one caption form the model is trained on."""
    return f"a {colour} {shape} on a {background} background"


def parse_caption(caption: str) -> tuple[str, str, str]:
    """(colour, shape, background) of a world caption; a clear error for anything else."""
    words = caption.strip().lower().rstrip(".").split()
    if len(words) != 7 or words[0] != "a" or words[3:5] != ["on", "a"] or words[6] != "background":
        raise ValueError(f"'{caption}' is not a world caption; write "
                         "'a <colour> <shape> on a <colour> background'.")
    colour, shape, background = words[1], words[2], words[5]
    for word, allowed in ((colour, COLOURS), (shape, SHAPES), (background, COLOURS)):
        if word not in allowed:
            raise ValueError(f"'{word}' in '{caption}' is not in the world's vocabulary; "
                             f"use one of {sorted(allowed)}.")
    return colour, shape, background


def all_scene_keys() -> list[tuple[str, str, str]]:
    """Every (colour, shape, background) with different shape and background colours, in a fixed order."""
    return [(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]


def training_scene_keys() -> list[tuple[str, str, str]]:
    """All scenes except the held-out ones."""
    held = set(HELD_OUT)
    return [k for k in all_scene_keys() if k not in held]


def random_scene(rng: random.Random, key: tuple[str, str, str] | None = None,
                 keys: Sequence[tuple[str, str, str]] | None = None) -> Scene:
    """A randomly placed scene showing `key`, or one drawn from `keys` (default: training scenes)."""
    if key is None:
        key = rng.choice(list(keys) if keys is not None else training_scene_keys())
    colour, shape, background = key
    cx = 0.5 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER)
    cy = 0.5 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER)
    return Scene(colour, shape, background, (cx, cy), rng.uniform(*HALF_SIZE_RANGE))


def shape_mask(shape: str, centre: tuple[float, float], half_size: float, size: int) -> np.ndarray:
    """Coverage in [0, 1] (float32, size×size) of a shape, anti-aliased by supersampling."""
    n = size * SUPERSAMPLE
    coords = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = coords[None, :], coords[:, None]
    cx, cy = centre
    if shape == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= half_size**2
    elif shape == "square":
        inside = (np.abs(x - cx) <= half_size) & (np.abs(y - cy) <= half_size)
    elif shape == "triangle":
        # Apex at the top centre, base along the bottom: width grows linearly with depth.
        depth = (y - (cy - half_size)) / (2 * half_size)
        inside = (depth >= 0) & (depth <= 1) & (np.abs(x - cx) <= depth * half_size)
    else:
        raise ValueError(f"Unknown shape '{shape}'; use one of {list(SHAPES)}.")
    fine = inside.astype(np.float32)
    return fine.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def render(scene: Scene, size: int = NATIVE_SIZE) -> np.ndarray:
    """The scene as an sRGB uint8 array (size, size, 3)."""
    for name in (scene.colour, scene.background):
        if name not in COLOURS:
            raise ValueError(f"Unknown colour '{name}'; use one of {list(COLOURS)}.")
    cover = shape_mask(scene.shape, scene.centre, scene.half_size, size)[..., None]
    fg = np.array(COLOURS[scene.colour], dtype=np.float32)
    bg = np.array(COLOURS[scene.background], dtype=np.float32)
    return np.rint(cover * fg + (1 - cover) * bg).astype(np.uint8)


def scenes(seed: int, count: int, keys: Sequence[tuple[str, str, str]] | None = None) -> list[Scene]:
    """`count` scenes from a seed; the same seed always gives the same list."""
    rng = random.Random(seed)
    return [random_scene(rng, keys=keys) for _ in range(count)]


SceneKeys = Sequence[tuple[str, str, str]]


def balanced_scenes(seed: int, per_key: int, keys: SceneKeys | None = None) -> list[Scene]:
    """`per_key` placements of every scene key (training scenes by default), in a seeded order."""
    rng = random.Random(seed)
    chosen = list(keys) if keys is not None else training_scene_keys()
    out = [random_scene(rng, key=k) for k in chosen for _ in range(per_key)]
    rng.shuffle(out)
    return out


def batches(seed: int, batch_size: int, keys: SceneKeys | None = None) -> Iterator[list[Scene]]:
    """An endless, seeded stream of scene batches (for on-the-fly training data)."""
    rng = random.Random(seed)
    while True:
        yield [random_scene(rng, keys=keys) for _ in range(batch_size)]


def images_array(items: Sequence[Scene], size: int = NATIVE_SIZE) -> np.ndarray:
    """Rendered scenes stacked as uint8 (N, size, size, 3)."""
    return np.stack([render(s, size) for s in items]) if items else np.zeros((0, size, size, 3), np.uint8)
