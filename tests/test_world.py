"""The demo world: vocabulary, captions, seeded determinism and exact rendering."""

from __future__ import annotations

import numpy as np
import pytest

from modules.training import world


def test_vocabulary_and_scene_counts():
    assert list(world.COLOURS) == ["red", "green", "blue", "yellow", "white", "black", "orange", "purple"]
    assert world.SHAPES == ("circle", "square", "triangle")
    keys = world.all_scene_keys()
    assert len(keys) == 8 * 7 * 3 == len(set(keys))
    assert all(c != b for c, _, b in keys)
    assert set(world.HELD_OUT) < set(keys)
    assert len(world.training_scene_keys()) == 168 - len(world.HELD_OUT)
    held_colours = {c for c, _, _ in world.HELD_OUT} | {b for _, _, b in world.HELD_OUT}
    assert held_colours == set(world.COLOURS)


def test_held_out_parts_are_all_seen_in_training():
    train = world.training_scene_keys()
    for colour, shape, background in world.HELD_OUT:
        assert any(k[0] == colour and k[1] == shape for k in train)
        assert any(k[1] == shape and k[2] == background for k in train)


def test_caption_round_trip_and_errors():
    assert world.caption_for("red", "circle", "blue") == "a red circle on a blue background"
    assert world.parse_caption("A Red circle on a blue background.") == ("red", "circle", "blue")
    with pytest.raises(ValueError, match="not a world caption"):
        world.parse_caption("a red circle")
    with pytest.raises(ValueError, match="'pink'.*vocabulary"):
        world.parse_caption("a pink circle on a blue background")
    with pytest.raises(ValueError, match="'hexagon'"):
        world.parse_caption("a red hexagon on a blue background")


def test_same_seed_same_scenes_and_bytes():
    a, b = world.scenes(7, 20), world.scenes(7, 20)
    assert a == b
    assert world.images_array(a).tobytes() == world.images_array(b).tobytes()
    assert world.scenes(8, 20) != a
    assert world.balanced_scenes(3, 2) == world.balanced_scenes(3, 2)
    stream_a, stream_b = world.batches(5, 4), world.batches(5, 4)
    assert [next(stream_a) for _ in range(3)] == [next(stream_b) for _ in range(3)]


def test_training_scenes_exclude_held_out():
    keys = {s.key for s in world.scenes(1, 2000)}
    assert not keys & set(world.HELD_OUT)
    balanced = world.balanced_scenes(1, 2)
    assert len(balanced) == 2 * 160
    assert {s.key for s in balanced} == set(world.training_scene_keys())


def test_render_uses_the_documented_colours():
    scene = world.Scene("red", "square", "blue", (0.5, 0.5), 0.25)
    img = world.render(scene)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert tuple(img[32, 32]) == (220, 30, 30)
    assert tuple(img[0, 0]) == (30, 60, 220)
    assert (img == np.array([220, 30, 30], np.uint8)).all(axis=2).sum() == 32 * 32


@pytest.mark.parametrize(("shape", "expected"), [("circle", np.pi / 4), ("square", 1.0), ("triangle", 0.5)])
def test_shape_area_matches_geometry(shape, expected):
    cover = world.shape_mask(shape, (0.5, 0.5), 0.25, 64)
    assert cover.sum() / (32 * 32) == pytest.approx(expected, abs=0.01)


def test_shapes_never_touch_the_border():
    for scene in world.scenes(11, 300, world.all_scene_keys()):
        img = world.render(scene)
        border = np.concatenate([img[:4].reshape(-1, 3), img[-4:].reshape(-1, 3),
                                 img[:, :4].reshape(-1, 3), img[:, -4:].reshape(-1, 3)])
        assert (border == np.array(world.COLOURS[scene.background], np.uint8)).all()


def test_render_rejects_unknown_names():
    with pytest.raises(ValueError, match="Unknown colour 'pink'"):
        world.render(world.Scene("pink", "circle", "blue"))
    with pytest.raises(ValueError, match="Unknown shape 'star'"):
        world.render(world.Scene("red", "star", "blue"))
