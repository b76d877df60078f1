"""Seeds and noise: determinism, per-image generators, variation seeds, seed resize, ENSD, NV source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modules.noise import (
    ImageRNG,
    PhiloxGenerator,
    all_seeds,
    fix_seed,
    make_noise_sampler,
    philox4x32,
    randn_for_seed,
    slerp,
)

SHAPE = (4, 8, 8)


def test_fix_seed_keeps_seeds_and_randomises_minus_one():
    assert fix_seed(1234) == 1234
    assert fix_seed("77") == 77
    drawn = {fix_seed(-1) for _ in range(20)} | {fix_seed(None), fix_seed(""), fix_seed("junk")}
    assert all(0 <= s < 4294967294 for s in drawn)
    assert len(drawn) > 1


def test_job_seeds_count_up_unless_a_variation_strength_is_set():
    assert all_seeds(100, 7, 0.0, 4) == ([100, 101, 102, 103], [7, 8, 9, 10])
    assert all_seeds(100, 7, 0.25, 3) == ([100, 100, 100], [7, 8, 9])


def test_same_seed_gives_identical_noise():
    a = ImageRNG(SHAPE, [123], source="CPU").first()
    b = ImageRNG(SHAPE, [123], source="CPU").first()
    assert a.shape == (1, *SHAPE) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert torch.equal(a[0], torch.randn(SHAPE, generator=torch.Generator().manual_seed(123)))


def test_image_k_of_a_batch_equals_its_seed_alone_also_for_later_noise():
    batch = ImageRNG(SHAPE, [10, 11, 12], source="CPU")
    first, second = batch.first(), batch.next()
    for k, seed in enumerate([10, 11, 12]):
        alone = ImageRNG(SHAPE, [seed], source="CPU")
        assert torch.equal(first[k], alone.first()[0])
        assert torch.equal(second[k], alone.next()[0])
    assert not torch.equal(first[0], first[1])


def test_next_on_a_fresh_rng_returns_the_first_noise():
    assert torch.equal(ImageRNG(SHAPE, [5], source="CPU").next(), ImageRNG(SHAPE, [5], source="CPU").first())


def test_variation_strength_zero_is_the_seed_and_one_is_the_subseed():
    main = randn_for_seed(1, SHAPE, "CPU", torch.device("cpu"))
    sub = randn_for_seed(2, SHAPE, "CPU", torch.device("cpu"))
    at0 = ImageRNG(SHAPE, [1], [2], subseed_strength=0.0, source="CPU").first()[0]
    at1 = ImageRNG(SHAPE, [1], [2], subseed_strength=1.0, source="CPU").first()[0]
    half = ImageRNG(SHAPE, [1], [2], subseed_strength=0.5, source="CPU").first()[0]
    assert torch.equal(at0, main)
    assert torch.allclose(at1, sub, atol=1e-5)
    assert not torch.allclose(half, main) and not torch.allclose(half, sub)
    # slerp keeps the per-(C, W) column norms of unit noise roughly the same, unlike lerp
    assert abs(float(half.norm()) - float(main.norm())) / float(main.norm()) < 0.15


def test_slerp_normalises_along_dim_1_and_falls_back_to_the_inverted_lerp():
    low = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    high = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    val = 0.3
    low_n, high_n = low / low.norm(dim=1, keepdim=True), high / high.norm(dim=1, keepdim=True)
    omega = torch.acos((low_n * high_n).sum(1))
    expected = (torch.sin((1 - val) * omega) / torch.sin(omega)).unsqueeze(1) * low + (
        torch.sin(val * omega) / torch.sin(omega)
    ).unsqueeze(1) * high
    assert torch.allclose(slerp(val, low, high), expected, atol=1e-6)
    nearly_same = low * 1.0001
    assert torch.allclose(slerp(val, low, nearly_same), low * val + nearly_same * (1 - val))


def test_seed_resize_pastes_the_small_seed_noise_in_the_centre():
    rng = ImageRNG((4, 16, 16), [9], seed_resize_from_h=64, seed_resize_from_w=64, source="CPU")
    big = rng.first()[0]
    small = randn_for_seed(9, (4, 8, 8), "CPU", torch.device("cpu"))
    assert torch.equal(big[:, 4:12, 4:12], small)
    full = torch.randn((4, 16, 16), generator=torch.Generator().manual_seed(9))
    assert torch.equal(big[:, :4], full[:, :4]) and torch.equal(big[:, :, 12:], full[:, :, 12:])


def test_seed_resize_from_larger_crops_the_centre():
    rng = ImageRNG((4, 8, 8), [9], seed_resize_from_h=128, seed_resize_from_w=96, source="CPU")
    small_target = rng.first()[0]
    larger = randn_for_seed(9, (4, 16, 12), "CPU", torch.device("cpu"))
    assert torch.equal(small_target, larger[:, 4:12, 2:10])


def test_ensd_reseeds_the_generators_after_the_first_noise():
    plain = ImageRNG(SHAPE, [100], source="CPU")
    ensd = ImageRNG(SHAPE, [100], source="CPU", eta_noise_seed_delta=31337)
    assert torch.equal(plain.first(), ensd.first())
    assert torch.equal(
        ensd.next()[0], torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + 31337))
    )
    assert not torch.equal(plain.next(), ImageRNG(SHAPE, [100 + 31337], source="CPU").first())


def test_noise_sampler_draws_from_the_image_generators():
    rng = ImageRNG(SHAPE, [1, 2], source="CPU")
    rng.first()
    sampler = make_noise_sampler(rng)
    twin = ImageRNG(SHAPE, [1, 2], source="CPU")
    twin.first()
    assert torch.equal(sampler(torch.tensor(1.0), torch.tensor(0.5)), twin.next())


def test_philox_matches_random123_known_answers():
    def run(counter: list[int], key: list[int]) -> list[int]:
        out = philox4x32(
            np.array(counter, dtype=np.uint32).reshape(4, 1), np.array(key, dtype=np.uint32).reshape(2, 1)
        )
        return [int(v) for v in out[:, 0]]

    assert run([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert run([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    pi = [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344]
    assert run(pi, [0xA4093822, 0x299F31D0]) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_nv_source_reproduces_cuda_randn():
    """torch.manual_seed(0); torch.randn((8, 8), device="cuda") on an NVIDIA GPU starts with these rows."""
    cuda_rows = np.array(
        [
            [-0.9247, -0.4253, -2.6438, 0.1452, -0.1209, -0.5797, -0.6229, -0.3284],
            [-1.0745, -0.3631, -1.6711, 2.2655, 0.3117, -0.1842, 1.2866, 1.1820],
        ]
    )
    assert np.abs(PhiloxGenerator(0).randn((8, 8))[:2] - cuda_rows).max() < 1e-4
    nv = ImageRNG((2, 4, 8), [0], source="NV").first()[0]
    assert torch.allclose(nv.reshape(8, 8)[:2], torch.tensor(cuda_rows, dtype=torch.float32), atol=1e-4)


def test_nv_later_calls_use_a_new_offset():
    gen = PhiloxGenerator(5)
    a, b = gen.randn((16,)), gen.randn((16,))
    assert not np.allclose(a, b)
    assert np.array_equal(PhiloxGenerator(5).randn((16,)), a)


def test_bad_source_and_shape_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown RNG source 'TPU'.*GPU, CPU, NV"):
        ImageRNG(SHAPE, [1], source="TPU")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ImageRNG((1, 4, 8, 8), [1])
    with pytest.raises(ValueError, match="at least one seed"):
        ImageRNG(SHAPE, [])
