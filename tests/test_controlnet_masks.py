"""A unit's masks and Low VRAM on the tiny SD1 model: where the control applies, what the mask means
for non-inpaint units, and where a Low VRAM unit's model sits during sampling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.controlnet.feature import ControlNetFeature
from modules.controlnet.service import ControlNetService
from modules.controlnet.unit_masks import region_mask_tensor, scribble_input
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.models.sd_model import ModelFamily
from tests.engine_helpers import pixels
from tests.fixtures.tiny_controlnets import build_tiny_controlnet, write_lllyasviel

SMALL = dict(width=64, height=64, steps=4, cfg_scale=5.0, sampler_name="Euler", save_images=False, seed=11)


def _control_image() -> Image.Image:
    image = np.zeros((64, 64, 3), np.uint8)
    image[8:56, 8:56] = 255
    image[24:40, 24:40] = 0
    return Image.fromarray(image)


def _half_mask(left: bool = True) -> Image.Image:
    mask = np.zeros((64, 64), np.uint8)
    if left:
        mask[:, :32] = 255
    else:
        mask[:, 32:] = 255
    return Image.fromarray(mask)


@pytest.fixture(scope="module")
def cn_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("controlnets")
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SD1, seed=0, scale=1.0), folder / "control_tiny_a.pth")
    return folder


@pytest.fixture()
def service(cn_folder: Path, tmp_path: Path) -> ControlNetService:
    return ControlNetService([cn_folder], tmp_path / "annotator")


def _unit(**fields):
    return {"enabled": True, "module": "none", "model": "control_tiny_a", "image": _control_image(), **fields}


def _run(ctx, service, units, **req):
    request = GenerationRequest(prompt="a red circle", alwayson_scripts={"controlnet": {"args": units}},
                                **{**SMALL, **req})
    return pixels(generate(request, dataclasses.replace(ctx, features=(ControlNetFeature(service),))).images[0])


def _halves(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = np.abs(a - b)
    return float(diff[:, :32].mean()), float(diff[:, 32:].mean())


def test_effective_region_mask_limits_the_control_to_its_white_half(ctx, service):
    plain = _run(ctx, service, [])
    full = _run(ctx, service, [_unit()])
    left = _run(ctx, service, [_unit(effective_region_mask=_half_mask(left=True))])
    right = _run(ctx, service, [_unit(effective_region_mask=_half_mask(left=False))])
    full_l, full_r = _halves(full, plain)
    assert full_l > 3.0 and full_r > 3.0  # the unmasked unit changes both halves
    left_l, left_r = _halves(left, plain)
    right_l, right_r = _halves(right, plain)
    # the half under black stays closer to the no-control picture than the half under white (not
    # equal to it: the UNet's attention and deep layers carry some of the control across)
    assert left_r < 0.8 * left_l and right_l < 0.8 * right_r
    # and the controlled half is closer to the fully controlled picture than the other half is
    to_full_l, to_full_r = _halves(left, full)
    assert to_full_l < 0.8 * to_full_r


def test_region_mask_zeroes_the_residuals_under_black():
    import torch

    from modules.controlnet.injection import ActiveUnit, ControlNetWrapper
    from modules.controlnet.unit import ControlMode
    from modules.engine.unet_call import UNetCall

    net = build_tiny_controlnet(ModelFamily.SD1)
    mask = region_mask_tensor(_half_mask(left=True), 64, 64)
    seen = {}

    def last(call):
        seen["down"], seen["mid"] = call.down_block_additional_residuals, call.mid_block_additional_residual
        return call.x

    for region in (None, mask):
        unit = ActiveUnit(0, lambda: net, torch.rand(1, 3, 64, 64), 1.0, 0.0, 1.0, ControlMode.BALANCED,
                          region_mask=region)
        call = UNetCall(torch.randn(2, 4, 8, 8), torch.tensor([500, 500]), torch.ones(2), torch.randn(2, 77, 32),
                        None, is_uncond=torch.tensor([False, True]), image_index=torch.tensor([0, 0]), step=0,
                        total_steps=4)
        ControlNetWrapper([unit])(call, last)
        for residual in [*seen["down"], seen["mid"]]:
            width = residual.shape[-1]
            if width < 2:
                continue
            left, right = residual[..., : width // 2], residual[..., width // 2:]
            assert left.abs().min() >= 0 and left.abs().max() > 0
            assert (right.abs().max() == 0) == (region is not None)


def test_all_black_region_mask_is_the_same_as_no_unit(ctx, service):
    plain = _run(ctx, service, [])
    black = _run(ctx, service, [_unit(effective_region_mask=Image.new("L", (64, 64), 0))])
    assert np.array_equal(plain, black)
    white = _run(ctx, service, [_unit(effective_region_mask=Image.new("RGB", (32, 32), (255, 255, 255)))])
    assert np.array_equal(white, _run(ctx, service, [_unit()]))  # all white: the plain unit


def test_region_mask_arrives_as_base64_through_the_unit_dict(ctx, service):
    import base64
    import io

    buf = io.BytesIO()
    Image.new("L", (64, 64), 0).save(buf, "PNG")
    encoded = base64.b64encode(buf.getvalue()).decode()
    assert np.array_equal(_run(ctx, service, [_unit(effective_region_mask=encoded)]), _run(ctx, service, []))


def test_a_drawn_mask_is_the_control_input_of_a_non_inpaint_unit(ctx, service):
    drawing = np.zeros((64, 64), np.uint8)
    drawing[10:30, 10:54] = 255
    mask = Image.fromarray(drawing)
    as_input = _run(ctx, service, [_unit(image=mask.convert("RGB"))])
    with_mask = _run(ctx, service, [_unit(mask=mask)])
    assert np.array_equal(with_mask, as_input)
    # an empty (all black or all white) mask holds no drawing: the image stays the input
    image_only = _run(ctx, service, [_unit()])
    assert np.array_equal(_run(ctx, service, [_unit(mask=Image.new("L", (64, 64), 255))]), image_only)
    # the extension's setting turns the rule off
    from modules.settings.store import SettingsView

    ignore = {"controlnet_ignore_noninpaint_mask": True}
    ignoring = dataclasses.replace(ctx, settings=SettingsView(ctx.settings, ignore))
    assert np.array_equal(_run(ignoring, service, [_unit(mask=mask)]), image_only)


def test_scribble_input_resizes_the_mask_to_the_image():
    image = Image.new("RGB", (40, 20), (9, 9, 9))
    drawing = Image.new("L", (20, 10), 0)
    drawing.paste(255, (0, 0, 10, 10))
    out = np.asarray(scribble_input(image, drawing))
    assert out.shape == (20, 40, 3) and out[:, :20].min() == 255 and out[:, 20:].max() == 0


def test_region_mask_gets_the_only_masked_crop():
    mask = Image.new("L", (128, 128), 0)
    mask.paste(255, (0, 0, 64, 128))  # the left half of the whole picture
    crop = ((128, 128), (32, 32, 96, 96))  # a centred crop: its left half is white
    cropped = region_mask_tensor(mask, 64, 64, crop)
    assert cropped.shape == (1, 1, 64, 64)
    assert cropped[0, 0, :, :30].min() == 1.0 and cropped[0, 0, :, 34:].max() == 0.0
    assert region_mask_tensor(mask, 64, 64).shape == (1, 1, 128, 128)  # no crop: stretched per residual


class RecordingPlacer:
    def __init__(self) -> None:
        self.where: dict[str, str] = {}
        self.moves: list[tuple[str, str]] = []

    def move(self, key, modules, device) -> None:
        self.where[key] = device.type
        self.moves.append((key, device.type))


def _recorded_run(tiny_sd1: Path, cn_folder: Path, tmp_path: Path, monkeypatch, low_vram: bool):
    from diffusers import ControlNetModel, UNet2DConditionModel

    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryMode, MemoryPolicy
    from tests.engine_helpers import engine_context

    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy(MemoryMode.MEDVRAM, "cuda", no_half=True, no_half_vae=True), placer=placer,
                       configs_dir=Path(__file__).resolve().parent.parent / "configs")
    model = cache.get(tiny_sd1)
    placer.where = {k: "cpu" for k in ("unet", "vae", "text_encoders")}  # loaded on the storage device
    seen: dict[str, list[dict[str, str]]] = {"controlnet": [], "unet": []}
    for cls, name in ((ControlNetModel, "controlnet"), (UNet2DConditionModel, "unet")):
        original = cls.forward

        def spy(self, *args, _original=original, _name=name, **kwargs):
            seen[_name].append(dict(placer.where))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "forward", spy)
    ctx = dataclasses.replace(engine_context(tiny_sd1, tmp_path, model=model), models=cache)
    out = _run(ctx, ControlNetService([cn_folder], tmp_path / "annotator"), [_unit(low_vram=low_vram)])
    key = next(k for k in placer.where if k.startswith("controlnet/"))
    return out, placer, seen, key, cache


def test_low_vram_unit_is_on_the_device_only_for_its_own_calls(tiny_sd1: Path, cn_folder: Path, tmp_path: Path,
                                                              monkeypatch):
    out, placer, seen, key, cache = _recorded_run(tiny_sd1, cn_folder, tmp_path, monkeypatch, low_vram=True)
    calls = len(seen["controlnet"])
    assert calls == SMALL["steps"]  # one batched (cond + uncond) call per step
    assert all(w[key] == "cuda" and w["unet"] == "cuda" for w in seen["controlnet"])  # placed for its call
    assert all(w.get(key) == "cpu" for w in seen["unet"])  # and off again while the UNet runs
    assert [d for k, d in placer.moves if k == key] == ["cuda", "cpu"] * calls
    assert cache.resident is None or key not in cache.resident
    normal, placer_n, seen_n, key_n, _ = _recorded_run(tiny_sd1, cn_folder, tmp_path / "n", monkeypatch,
                                                       low_vram=False)
    assert [d for k, d in placer_n.moves if k == key_n] == ["cuda", "cpu"]  # beside the UNet, off for decode
    assert all(w[key_n] == "cuda" for w in seen_n["unet"])
    assert np.array_equal(out, normal)  # the same picture either way


def test_borrow_leaves_an_already_placed_model_where_it_is(tiny_sd1: Path, tmp_path: Path):
    import torch

    from modules.models.cache import ModelCache
    from modules.models.handles import ModelHandle
    from modules.models.memory import MemoryMode, MemoryPolicy

    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy(MemoryMode.NORMAL, "cuda", no_half=True, no_half_vae=True), placer=placer)
    cache.register(ModelHandle("controlnet/x", load=lambda: torch.nn.Linear(2, 2), kind="controlnet"))
    with cache.borrow("controlnet/x") as net:
        assert isinstance(net, torch.nn.Linear) and placer.where["controlnet/x"] == "cuda"
    assert placer.where["controlnet/x"] == "cpu"
    with cache.use("controlnet/x"):
        pass
    placer.moves.clear()
    with cache.borrow("controlnet/x"):
        pass
    assert placer.moves == [] and placer.where["controlnet/x"] == "cuda"
    with pytest.raises(ValueError, match="Unknown model component"):
        with cache.borrow("unet"):
            pass


def test_only_masked_inpaint_with_a_region_mask(ctx, service):
    """End to end: "Only masked" crops the control map and the region mask alike; a region mask that
    is black over the repainted area leaves the inpaint as it is without the unit."""
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (8, 8, 40, 40))
    init = Image.fromarray(np.full((64, 64, 3), 90, np.uint8))
    common = dict(mode="img2img", init_images=[init], mask=mask, inpaint_full_res=True, denoising_strength=0.9,
                  mask_blur_x=0, mask_blur_y=0, inpaint_full_res_padding=0)
    plain = _run(ctx, service, [], **common)
    controlled = _run(ctx, service, [_unit()], **common)
    region = Image.new("L", (64, 64), 255)
    region.paste(0, (0, 0, 48, 48))  # black over the repainted square (and its crop), white elsewhere
    shielded = _run(ctx, service, [_unit(effective_region_mask=region)], **common)
    assert np.abs(controlled - plain).mean() > 1.0
    assert np.array_equal(shielded, plain)


def test_inpaint_unit_hint_is_minus_one_where_its_mask_says_repaint(service):
    import torch

    from modules.controlnet.feature import control_of, prepare_unit
    from modules.controlnet.unit import parse_unit

    assert service.preprocessors.canonical("inpaint_global_harmonious") == "inpaint"
    image = Image.new("RGB", (64, 64), (255, 128, 0))
    unit = parse_unit({"enabled": True, "module": "inpaint_global_harmonious", "image": image,
                       "mask": _half_mask(left=True)}, known_modules=service.preprocessors.canonical)
    req = GenerationRequest(prompt="x", width=64, height=64)
    shown, hint = control_of(prepare_unit(service, unit, req, 0, 64, 64), req, 64, 64)
    assert hint.shape == (1, 3, 64, 64)
    assert torch.all(hint[..., :32] == -1)
    assert torch.allclose(hint[0, :, :, 32:].mean(dim=(1, 2)), torch.tensor([1.0, 128 / 255, 0.0]))
    assert shown.shape == (64, 64, 4) and shown[0, 0, 3] == 128 and shown[0, 63, 3] == 255  # repaint: see-through
    no_mask = control_of(prepare_unit(service, unit.with_changes(mask=None), req, 0, 64, 64), req, 64, 64)[1]
    assert no_mask.min() >= 0  # without a mask nothing is to be repainted


def test_inpaint_unit_without_image_takes_the_jobs_inpaint_mask(service):
    from modules.controlnet.feature import control_of, prepare_unit
    from modules.controlnet.unit import parse_unit

    unit = parse_unit({"enabled": True, "module": "inpaint"}, known_modules=service.preprocessors.canonical)
    job_mask = _half_mask(left=False)
    req = GenerationRequest(prompt="x", mode="img2img", init_images=[Image.new("RGB", (64, 64), "white")],
                            mask=job_mask, mask_blur_x=0, mask_blur_y=0, width=64, height=64)
    hint = control_of(prepare_unit(service, unit, req, 0, 64, 64), req, 64, 64)[1]
    assert (hint[..., 32:] == -1).all() and (hint[..., :32] == 1).all()
    inverted = req.with_changes(inpainting_mask_invert=1)
    hint = control_of(prepare_unit(service, unit, inverted, 0, 64, 64), inverted, 64, 64)[1]
    assert (hint[..., :32] == -1).all() and (hint[..., 32:] == 1).all()


def test_inpaint_unit_mask_changes_the_picture(ctx, service):
    base = _unit(module="inpaint", image=Image.new("RGB", (64, 64), (200, 60, 60)))
    without = _run(ctx, service, [base])
    masked = _run(ctx, service, [{**base, "mask": _half_mask(left=True)}])
    assert np.abs(without - masked).mean() > 1.0


def test_inpaint_only_falls_back_to_inpaint_in_an_inpaint_job(ctx, service):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (8, 8, 40, 40))
    init = Image.fromarray(np.full((64, 64, 3), 90, np.uint8))
    common = dict(mode="img2img", init_images=[init], mask=mask, denoising_strength=0.9)
    unit = {"enabled": True, "model": "control_tiny_a"}
    only = _run(ctx, service, [{**unit, "module": "inpaint_only"}], **common)
    assert np.array_equal(only, _run(ctx, service, [{**unit, "module": "inpaint"}], **common))
    # without an inpaint job it stays inpaint_only (the paste-back: tests/test_controlnet_detect_options.py)
    outside = _run(ctx, service, [{**unit, "module": "inpaint_only", "image": _control_image()}])
    assert outside.shape[:2] == (64, 64)
