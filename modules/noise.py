"""Seeds and initial/ancestral noise, reproducing A1111's `modules/rng.py` behaviour.

Why per-image generators: users expect image k of a batch to be the same picture as that
seed generated alone, and A1111 achieves this with one generator per image. Variation seeds
(slerp with a subseed), "seed resize from" (small noise pasted centred into the full noise)
and ENSD (re-seeding the generators after the first noise) follow A1111 exactly, quirks
included, because infotexts pasted from A1111 must give the same pictures.

The "NV" source is a Philox4x32-10 counter-based generator with a Box-Muller transform, the
algorithm NVIDIA's cuRAND uses, computed with NumPy so that CUDA-seeded pictures can be
reproduced on any hardware (as A1111's `rng_philox` does).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np
import torch

RNG_SOURCES = ("GPU", "CPU", "NV")
MAX_RANDOM_SEED = 4294967294

_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)
# A1111 keeps these as float32 values and multiplies them with uint32 counters in float64.
_TWO_POW32_INV = float(np.float32(2.3283064e-10))
_TWO_POW32_INV_2PI = float(np.float32(2.3283064e-10 * 6.2831855))

NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fix_seed(seed: int | str | None) -> int:
    """A1111's `get_fixed_seed`: empty, None, unparsable or -1 become a random seed.

    >>> fix_seed(1234)
    1234
    >>> 0 <= fix_seed(-1) < 4294967294
    True
    """
    if seed is None or seed == "":
        seed = -1
    elif isinstance(seed, str):
        try:
            seed = int(seed)
        except ValueError:
            seed = -1
    seed = int(seed)
    if seed == -1:
        return int(random.randrange(MAX_RANDOM_SEED))
    return seed


def all_seeds(seed: int, subseed: int, subseed_strength: float, count: int) -> tuple[list[int], list[int]]:
    """Per-image seeds of a job, as A1111: seed + i (all the same seed when a variation strength is set)
    and subseed + i. Pass seeds already fixed with `fix_seed`.

    >>> all_seeds(10, 50, 0.0, 3)
    ([10, 11, 12], [50, 51, 52])
    >>> all_seeds(10, 50, 0.3, 2)
    ([10, 10], [50, 51])
    """
    seeds = [int(seed) + (i if subseed_strength == 0 else 0) for i in range(count)]
    return seeds, [int(subseed) + i for i in range(count)]


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noises, normalised along dim 1 as A1111 does.

    For per-image noise of shape (C, H, W), dim 1 is the height axis; the quirk is kept
    because variation-seed pictures depend on it. When the two are nearly parallel the
    fallback lerp weights `low * val + high * (1 - val)` (inverted relative to the slerp),
    also as upstream.
    """
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    low_w = (torch.sin((1.0 - val) * omega) / so).unsqueeze(1)
    high_w = (torch.sin(val * omega) / so).unsqueeze(1)
    return low_w * low + high_w * high


def _mulhilo(a: np.ndarray, multiplier: int) -> tuple[np.ndarray, np.ndarray]:
    product = a.astype(np.uint64) * np.uint64(multiplier)
    return (product >> np.uint64(32)).astype(np.uint32), (product & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def philox4x32(counter: np.ndarray, key: np.ndarray, rounds: int = 10) -> np.ndarray:
    """Philox4x32 (Salmon et al. 2011): (4, n) uint32 counters, (2, n) uint32 keys."""
    c = counter.astype(np.uint32).copy()
    k0, k1 = key[0].astype(np.uint32).copy(), key[1].astype(np.uint32).copy()
    for r in range(rounds):
        hi0, lo0 = _mulhilo(c[0], _PHILOX_M[0])
        hi1, lo1 = _mulhilo(c[2], _PHILOX_M[1])
        c = np.stack([hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0])
        if r < rounds - 1:
            k0 = k0 + np.uint32(_PHILOX_W[0])
            k1 = k1 + np.uint32(_PHILOX_W[1])
    return c


def _box_muller(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    u = x.astype(np.float64) * _TWO_POW32_INV + _TWO_POW32_INV / 2
    v = y.astype(np.float64) * _TWO_POW32_INV_2PI + _TWO_POW32_INV_2PI / 2
    return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32)


class PhiloxGenerator:
    """The "NV" source: reproduces CUDA's `torch.randn` for a seed on any device.

    Each call uses a fresh counter offset, element i uses subsequence i, and the key is the
    64-bit seed, matching how cuRAND's Philox is driven per element.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.offset = 0

    def randn(self, shape: Sequence[int]) -> np.ndarray:
        n = int(math.prod(shape))
        if n >= 2**32:
            raise ValueError(f"NV random source can make at most 2**32 numbers per call, asked for {n}")
        counter = np.zeros((4, n), dtype=np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(n, dtype=np.uint32)
        self.offset += 1
        key = np.empty((2, n), dtype=np.uint32)
        key[0] = self.seed & 0xFFFFFFFF
        key[1] = self.seed >> 32
        out = philox4x32(counter, key)
        return _box_muller(out[0], out[1]).reshape(tuple(shape))


Generator = torch.Generator | PhiloxGenerator


def check_rng_source(source: str) -> str:
    """Validate the `randn_source` setting with a message that names the fix."""
    if source not in RNG_SOURCES:
        raise ValueError(
            f"Unknown RNG source {source!r}: use one of {', '.join(RNG_SOURCES)} "
            "(setting 'randn_source', infotext 'RNG')"
        )
    return source


def _generator_device(source: str, device: torch.device) -> torch.device:
    """CPU source, and MPS (whose generators differ), draw on the CPU as A1111 does."""
    if source == "CPU" or device.type == "mps":
        return torch.device("cpu")
    return device


def create_generator(seed: int, source: str, device: torch.device) -> Generator:
    """One generator for one image's seed."""
    if check_rng_source(source) == "NV":
        return PhiloxGenerator(seed)
    return torch.Generator(_generator_device(source, device)).manual_seed(int(seed))


def randn_from(generator: Generator, shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """Draw standard normal noise of `shape` from a generator, delivered on `device` as float32."""
    if isinstance(generator, PhiloxGenerator):
        return torch.from_numpy(generator.randn(shape)).to(device)
    return torch.randn(tuple(shape), generator=generator, device=generator.device).to(device)


def randn_for_seed(seed: int, shape: Sequence[int], source: str, device: torch.device) -> torch.Tensor:
    """The first noise a fresh generator for `seed` gives (what A1111's `randn(seed, shape)` returns)."""
    return randn_from(create_generator(seed, source, device), shape, device)


def _paste_centred(full: torch.Tensor, small: torch.Tensor) -> torch.Tensor:
    """Put `small` (C, h, w) in the centre of `full` (C, H, W), cropping it where it is larger."""
    dx = (full.shape[2] - small.shape[2]) // 2
    dy = (full.shape[1] - small.shape[1]) // 2
    w = small.shape[2] if dx >= 0 else small.shape[2] + 2 * dx
    h = small.shape[1] if dy >= 0 else small.shape[1] + 2 * dy
    tx, ty = max(dx, 0), max(dy, 0)
    sx, sy = max(-dx, 0), max(-dy, 0)
    out = full.clone()
    out[:, ty : ty + h, tx : tx + w] = small[:, sy : sy + h, sx : sx + w]
    return out


class ImageRNG:
    """Noise for one batch: one generator per image, seeded with that image's seed.

    `shape` is one image's latent shape (C, H, W). `first()` gives the initial noise
    (variation seed and seed-resize applied); `next()` gives further noise for ancestral and
    SDE steps from the same generators (re-seeded with seed + ENSD after the first noise when
    `eta_noise_seed_delta` is set). As in A1111, the first call of `next()` returns `first()`.
    """

    def __init__(
        self,
        shape: Sequence[int],
        seeds: Sequence[int],
        subseeds: Sequence[int] | None = None,
        subseed_strength: float = 0.0,
        seed_resize_from_h: int = 0,
        seed_resize_from_w: int = 0,
        source: str = "GPU",
        device: torch.device | str = "cpu",
        *,
        eta_noise_seed_delta: int = 0,
        latent_factor: int = 8,
    ) -> None:
        if len(shape) != 3:
            raise ValueError(f"ImageRNG shape must be one image's latent (C, H, W), got {tuple(shape)}")
        if not seeds:
            raise ValueError("ImageRNG needs at least one seed (one per image in the batch)")
        self.shape = tuple(int(s) for s in shape)
        self.seeds = [int(s) for s in seeds]
        self.subseeds = None if subseeds is None else [int(s) for s in subseeds]
        self.subseed_strength = float(subseed_strength)
        self.seed_resize_from_h = int(seed_resize_from_h or 0)
        self.seed_resize_from_w = int(seed_resize_from_w or 0)
        self.source = check_rng_source(source)
        self.device = torch.device(device)
        self.eta_noise_seed_delta = int(eta_noise_seed_delta or 0)
        self.latent_factor = int(latent_factor)
        self.generators = [create_generator(s, self.source, self.device) for s in self.seeds]
        self.is_first = True

    @property
    def noise_shape(self) -> tuple[int, int, int]:
        """The shape the seed's noise is drawn at: smaller when "seed resize from" is set."""
        if self.seed_resize_from_h <= 0 or self.seed_resize_from_w <= 0:
            return self.shape
        return (
            self.shape[0],
            self.seed_resize_from_h // self.latent_factor,
            self.seed_resize_from_w // self.latent_factor,
        )

    def _first_for_image(self, index: int, seed: int, generator: Generator) -> torch.Tensor:
        noise_shape = self.noise_shape
        subnoise = None
        if self.subseeds is not None and self.subseed_strength != 0:
            subseed = 0 if index >= len(self.subseeds) else self.subseeds[index]
            subnoise = randn_for_seed(subseed, noise_shape, self.source, self.device)
        if noise_shape != self.shape:
            noise = randn_for_seed(seed, noise_shape, self.source, self.device)
        else:
            noise = randn_from(generator, self.shape, self.device)
        if subnoise is not None:
            noise = slerp(self.subseed_strength, noise, subnoise)
        if noise_shape != self.shape:
            noise = _paste_centred(randn_from(generator, self.shape, self.device), noise)
        return noise

    def first(self) -> torch.Tensor:
        """The initial noise, (B, C, H, W) float32 on the device."""
        self.is_first = False
        xs = [
            self._first_for_image(i, s, g)
            for i, (s, g) in enumerate(zip(self.seeds, self.generators, strict=True))
        ]
        if self.eta_noise_seed_delta:
            self.generators = [
                create_generator(s + self.eta_noise_seed_delta, self.source, self.device) for s in self.seeds
            ]
        return torch.stack(xs).to(self.device)

    def next(self) -> torch.Tensor:
        """Further noise from the per-image generators (the first call returns `first()`)."""
        if self.is_first:
            return self.first()
        xs = [randn_from(g, self.shape, self.device) for g in self.generators]
        return torch.stack(xs).to(self.device)


def make_noise_sampler(rng: ImageRNG) -> NoiseSampler:
    """Adapt an ImageRNG to the sampler contract `noise_sampler(sigma, sigma_next) -> noise`.

    Ancestral steps in A1111 take `rng.next()` whatever the sigmas are, so they are ignored.
    """

    def noise_sampler(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return rng.next()

    return noise_sampler
