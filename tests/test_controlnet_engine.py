"""ControlNet in the engine with tiny random ControlNets: pixels, the step window, composition, modes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.controlnet.feature import ControlNetFeature
from modules.controlnet.service import ControlNetService
from modules.engine.features import Contribution
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.engine.unet_call import FeatureError
from modules.infotext import parse_generation_parameters
from modules.models.sd_model import ModelFamily
from tests.controlnet_helpers import SMALL, WrapperFeature, control_image, mean_diff, run_units
from tests.engine_helpers import pixels
from tests.fixtures.tiny_controlnets import build_tiny_controlnet, write_diffusers_folder, write_lllyasviel


@pytest.fixture(scope="module")
def cn_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("controlnets")
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SD1, seed=0), folder / "control_tiny_a.pth")
    write_diffusers_folder(build_tiny_controlnet(ModelFamily.SD1, seed=5), folder / "control_tiny_b")
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SDXL, seed=0), folder / "control_tiny_xl.safetensors")
    return folder


@pytest.fixture()
def service(cn_folder: Path, tmp_path: Path) -> ControlNetService:
    return ControlNetService([cn_folder], tmp_path / "annotator")


class Spy:
    """A UNet wrapper after ControlNet's: records what residuals reach the UNet at each step."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, bool]] = []

    def __call__(self, call, call_next):
        down = call.down_block_additional_residuals
        self.seen.append((call.step, call.total_steps, down is not None))
        return call_next(call)


def _unit(**fields):
    return {"enabled": True, "module": "none", "model": "control_tiny_a", "image": control_image(), **fields}


def test_weight_zero_is_the_same_pixels_and_a_unit_changes_them(ctx, service):
    plain = run_units(ctx, service, [])
    zero = run_units(ctx, service, [_unit(weight=0.0)])
    assert np.array_equal(pixels(plain.images[0]), pixels(zero.images[0]))
    on = run_units(ctx, service, [_unit()])
    assert mean_diff(on, plain) > 2.0
    elsewhere = run_units(ctx, service, [_unit(image=control_image(left=False))])
    assert mean_diff(on, elsewhere) > 1.0  # the control image itself matters
    params = parse_generation_parameters(on.infotexts[0])
    assert params["ControlNet 0"].startswith("Module: none, Model: control_tiny_a [")
    assert "Guidance Start: 0.0, Guidance End: 1.0" in params["ControlNet 0"]


def test_window_is_honoured_step_by_step(ctx, service):
    spies = WrapperFeature(Spy())
    run_units(ctx, service, [_unit(guidance_start=0.25, guidance_end=0.5)], extra_features=(spies,), steps=8)
    active = sorted({step for step, total, has in spies.spy.seen if has})
    assert active == [2, 3, 4]  # step/8 within [0.25, 0.5]
    assert {total for _, total, _ in spies.spy.seen} == {8}


def test_two_units_compose(ctx, service):
    a = run_units(ctx, service, [_unit()])
    b = run_units(ctx, service, [_unit(model="control_tiny_b")])
    both = run_units(ctx, service, [_unit(), _unit(model="control_tiny_b")])
    assert mean_diff(both, a) > 1.0 and mean_diff(both, b) > 1.0
    params = parse_generation_parameters(both.infotexts[0])
    assert "control_tiny_a [" in params["ControlNet 0"] and "control_tiny_b [" in params["ControlNet 1"]


def test_control_modes_differ(ctx, service):
    runs = {mode: run_units(ctx, service, [_unit(control_mode=mode)]) for mode in range(3)}
    assert mean_diff(runs[0], runs[1]) > 0.5 and mean_diff(runs[1], runs[2]) > 0.5 and mean_diff(runs[0], runs[2]) > 0.5


def test_control_mode_control_leaves_the_uncond_rows_alone(sd1_model):
    import torch

    from modules.controlnet.injection import ActiveUnit, ControlNetWrapper
    from modules.controlnet.unit import ControlMode
    from modules.engine.unet_call import UNetCall

    net = build_tiny_controlnet(ModelFamily.SD1)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    seen = {}

    def last(call):
        seen["down"] = call.down_block_additional_residuals
        return call.x

    for mode in (ControlMode.CONTROL, ControlMode.BALANCED):
        unit = ActiveUnit(0, lambda: net, torch.rand(1, 3, 64, 64), 1.0, 0.0, 1.0, mode)
        call = UNetCall(x, torch.tensor([500, 500]), torch.ones(2), torch.randn(2, 77, 32), None,
                        is_uncond=torch.tensor([False, True]), image_index=torch.tensor([0, 0]), step=0,
                        total_steps=4)
        ControlNetWrapper([unit])(call, last)
        uncond_rows = [t[1].abs().max().item() for t in seen["down"]]
        cond_rows = [t[0].abs().max().item() for t in seen["down"]]
        assert min(cond_rows) > 0
        assert (max(uncond_rows) == 0) == (mode is ControlMode.CONTROL)


def test_img2img_uses_the_input_image_when_the_unit_has_none(ctx, service):
    init = Image.fromarray(np.full((64, 64, 3), 128, np.uint8))
    plain = run_units(ctx, service, [], mode="img2img", init_images=[init], denoising_strength=0.8)
    unit = _unit()
    del unit["image"]
    controlled = run_units(ctx, service, [unit], mode="img2img", init_images=[init], denoising_strength=0.8)
    assert mean_diff(controlled, plain) > 1.0


def test_wrong_family_and_unknown_model_fail_with_clear_messages(ctx, service):
    with pytest.raises(FeatureError) as err:
        run_units(ctx, service, [_unit(model="control_tiny_xl")])
    assert "SDXL" in str(err.value) and "SD1.x" in str(err.value)
    with pytest.raises(FeatureError, match="model_list"):
        run_units(ctx, service, [_unit(model="nothing_like_it")])
    with pytest.raises(FeatureError, match="has no image"):
        run_units(ctx, service, [{"enabled": True, "model": "control_tiny_a"}])


class HiresPass:
    """A second pass at twice the size, named as the hires fix names its pass."""

    name = "hires-for-test"

    def plan(self, setup, passes):
        from modules.engine.passes import PassSpec, latent_upscale

        first = passes[0]
        return [*passes, PassSpec("hires", first.width * 2, first.height * 2, 2, first.sampler_name,
                                  first.scheduler, first.cfg_scale, denoising_strength=0.6,
                                  source=latent_upscale())]

    def contribute(self, setup, pass_):
        return None


class PassSpy:
    name = "pass spy"

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool, int]] = []

    def contribute(self, setup, pass_):
        spy = self

        class Wrapper:
            name = "pass spy wrapper"

            def __call__(self, call, call_next):
                spy.seen.append((call.pass_index, call.down_block_additional_residuals is not None, call.x.shape[-1]))
                return call_next(call)

        return Contribution(unet_wrappers=[Wrapper()])


@pytest.mark.parametrize(("option", "passes"), [("Both", {0, 1}), ("Low res only", {0}), ("High res only", {1})])
def test_hr_option_picks_the_passes(ctx, service, option, passes):
    spy = PassSpy()
    request = GenerationRequest(prompt="a red circle", alwayson_scripts={"controlnet": {"args": [
        _unit(hr_option=option)]}}, **{**SMALL, "steps": 2})
    if option == "High res only":
        request = request.with_changes(enable_hr=True)  # what the hires fix reads (its pass comes from HiresPass)
    generate(request, dataclasses.replace(ctx, features=(HiresPass(), ControlNetFeature(service), spy)))
    assert {p for p, has, _ in spy.seen if has} == passes
    assert {width for p, _, width in spy.seen if p == 1} == {16}  # the hires pass runs at twice the latent size


def test_only_masked_inpaint_crops_the_control_map_like_the_image():
    from modules.controlnet.feature import inpaint_crop
    from modules.controlnet.unit import parse_unit

    detected = np.zeros((128, 128, 3), np.uint8)
    detected[:64, :64] = 255  # white exactly where the mask is
    mask = Image.new("L", (128, 128), 0)
    mask.paste(255, (0, 0, 64, 64))
    req = GenerationRequest(mode="img2img", init_images=[Image.new("RGB", (128, 128))], mask=mask,
                            inpaint_full_res=True, inpaint_full_res_padding=0, mask_blur_x=0, mask_blur_y=0,
                            width=64, height=64)
    cropped = inpaint_crop(detected, parse_unit({}), req, 64, 64)
    assert cropped.shape == (64, 64, 3) and cropped.min() == 255  # the crop is the masked corner only
    whole = inpaint_crop(detected, parse_unit({"inpaint_crop_input_image": False}), req, 64, 64)
    assert whole is detected


def test_only_masked_inpaint_runs_with_a_unit(ctx, service):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (8, 8, 40, 40))
    init = Image.fromarray(np.full((64, 64, 3), 90, np.uint8))
    common = dict(mode="img2img", init_images=[init], mask=mask, inpaint_full_res=True, denoising_strength=0.9)
    plain = run_units(ctx, service, [], **common)
    controlled = run_units(ctx, service, [_unit()], **common)
    assert mean_diff(controlled, plain) > 0.2


def test_sdxl_unit_changes_the_picture(tiny_sdxl: Path, cn_folder: Path, tmp_path: Path):
    from tests.engine_helpers import engine_context

    ctx = engine_context(tiny_sdxl, tmp_path)
    service = ControlNetService([cn_folder], tmp_path / "annotator")
    plain = run_units(ctx, service, [])
    on = run_units(ctx, service, [_unit(model="control_tiny_xl")])
    assert mean_diff(on, plain) > 1.0
    with pytest.raises(FeatureError, match="SD1.x"):
        run_units(ctx, service, [_unit(model="control_tiny_a")])


def test_controlnet_sits_on_the_device_with_the_unet_only_while_sampling(tiny_sd1: Path, cn_folder: Path,
                                                                        tmp_path: Path, monkeypatch):
    """Under --medvram the ControlNet handle is placed beside the UNet for sampling and put back after."""
    from diffusers import ControlNetModel

    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryMode, MemoryPolicy
    from tests.engine_helpers import engine_context
    from tests.test_engine_seams import RecordingPlacer

    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy(MemoryMode.MEDVRAM, "cuda", no_half=True, no_half_vae=True), placer=placer,
                       configs_dir=Path(__file__).resolve().parent.parent / "configs")
    model = cache.get(tiny_sd1)
    placer.where = {k: "cpu" for k in ("unet", "vae", "text_encoders")}
    seen: list[dict[str, str]] = []
    original = ControlNetModel.forward

    def spy(self, *args, **kwargs):
        seen.append(dict(placer.where))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ControlNetModel, "forward", spy)
    ctx = dataclasses.replace(engine_context(tiny_sd1, tmp_path, model=model), models=cache)
    run_units(ctx, ControlNetService([cn_folder], tmp_path / "annotator"), [_unit()])
    key = next(k for k in placer.where if k.startswith("controlnet/"))
    assert seen and all(w[key] == "cuda" and w["unet"] == "cuda" and w["vae"] == "cpu" for w in seen)
    assert placer.where[key] == "cpu"  # the VAE decode came after: the ControlNet went back


def test_detected_maps_are_saved_only_with_the_setting(ctx, cn_folder: Path, tmp_path: Path):
    service = ControlNetService([cn_folder], tmp_path / "annotator", tmp_path / "detected_maps")
    run_units(ctx, service, [_unit(module="invert")])
    assert not (tmp_path / "detected_maps").exists()
    from modules.settings.store import SettingsView

    saving = dataclasses.replace(ctx, settings=SettingsView(ctx.settings, {"control_net_detectmap_autosaving": True}))
    run_units(saving, service, [_unit(module="invert"), _unit(module="canny", save_detected_map=False)])
    saved = sorted((tmp_path / "detected_maps").rglob("*.png"))
    assert [p.parent.name for p in saved] == ["invert"]
    assert np.asarray(Image.open(saved[0]))[0, 0, 0] == 255  # black corner of the control image, inverted
