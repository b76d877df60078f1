"""T2I-Adapters in the built-in ControlNet: files in TencentARC's original and diffusers' layouts,
loaded through the real loading code, in the engine (pixels, window, modes) and through the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from modules.controlnet.feature import ControlNetFeature
from modules.controlnet.model_files import ControlNetFile, scan_controlnet_models
from modules.controlnet.model_loading import ControlNetLoadError, load_controlnet
from modules.controlnet.service import ControlNetService
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.engine.unet_call import FeatureError
from modules.hashing import model_hash_old
from modules.infotext import parse_generation_parameters
from modules.models.sd_model import ModelFamily
from tests.controlnet_helpers import SMALL, WrapperFeature, control_image, mean_diff, run_units
from tests.engine_helpers import engine_context, load_cpu_model, pixels
from tests.fixtures.tiny_adapters import (
    build_diffusers_adapter,
    ca_first_sd1_components,
    original_full_state,
    original_light_state,
    reference_features,
    write_diffusers_adapter_file,
    write_diffusers_adapter_folder,
    write_original,
)
from tests.fixtures.tiny_models import build_tiny_components, write_tiny_checkpoint

CPU = torch.device("cpu")
@pytest.fixture(scope="module")
def ca_sd1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SD1 checkpoint laid out as SD1.5 is (attention in the first level, none in the last)."""
    return write_tiny_checkpoint(ca_first_sd1_components(), tmp_path_factory.mktemp("ca-sd1") / "tiny-ca.safetensors")


@pytest.fixture(scope="module")
def ca_model(ca_sd1: Path):
    return load_cpu_model(ca_sd1)


@pytest.fixture(scope="module")
def adapter_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("adapters")
    write_original(original_full_state([32, 64], in_channels=1, seed=1), folder / "t2iadapter_sketch_tiny.pth")
    write_original(original_full_state([32, 64], seed=2), folder / "t2iadapter_depth_tiny.safetensors")
    write_diffusers_adapter_folder(build_diffusers_adapter("full_adapter", [32, 64], seed=3), folder / "t2i_diff_tiny")
    write_diffusers_adapter_folder(build_diffusers_adapter("full_adapter_xl", [32, 64], seed=4), folder / "t2i_xl_tiny")
    return folder


@pytest.fixture()
def service(adapter_folder: Path, tmp_path: Path) -> ControlNetService:
    return ControlNetService([adapter_folder], tmp_path / "annotator")


@pytest.fixture()
def ca_ctx(ca_sd1: Path, ca_model, tmp_path: Path):
    return engine_context(ca_sd1, tmp_path, model=ca_model)


# --- layouts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "in_channels"), [("t2iadapter_canny_sd14v1.pth", 1),
                                                    ("t2iadapter_depth_sd14v1.safetensors", 3)])
def test_original_full_layout_gives_the_original_features(tmp_path, ca_model, name, in_channels):
    state = original_full_state([32, 64], in_channels=in_channels)
    path = write_original(state, tmp_path / name)
    loaded = load_controlnet(ControlNetFile(path), dict(ca_model.unet.config), ModelFamily.SD1, CPU, torch.float32)
    assert loaded.family == "SD1.x" and loaded.model.config.adapter_type == "full_adapter"
    assert loaded.model.config.in_channels == in_channels and list(loaded.model.config.channels) == [32, 64]
    hint = torch.rand(2, in_channels, 64, 64, generator=torch.Generator().manual_seed(0))
    ours = loaded.model(hint)
    for got, want in zip(ours, reference_features(state, hint, 2), strict=True):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)


def test_original_light_layout_gives_the_original_features(tmp_path):
    """The color adapter's `Adapter_light`, for a UNet of three levels 32/64/64 wide."""
    state = original_light_state([32, 64, 64], resnets=2)
    path = write_original(state, tmp_path / "t2iadapter_color_sd14v1.pth")
    loaded = load_controlnet(ControlNetFile(path), {"block_out_channels": [32, 64, 64]}, ModelFamily.SD1, CPU,
                             torch.float32)
    assert loaded.model.config.adapter_type == "light_adapter"
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for got, want in zip(loaded.model(hint), reference_features(state, hint, 3), strict=True):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)


def test_diffusers_single_file_and_folder_sdxl(tmp_path):
    adapter = build_diffusers_adapter("full_adapter_xl", [32, 64])
    unet = build_tiny_components(ModelFamily.SDXL).unet
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    want = adapter(hint)
    for entry in (ControlNetFile(write_diffusers_adapter_file(adapter, tmp_path / "t2i_xl.safetensors")),
                  ControlNetFile(write_diffusers_adapter_folder(adapter, tmp_path / "t2i_xl"), True)):
        loaded = load_controlnet(entry, dict(unet.config), ModelFamily.SDXL, CPU, torch.float32)
        assert loaded.family == "SDXL" and loaded.model.config.adapter_type == "full_adapter_xl"
        for got, ref in zip(loaded.model(hint), want, strict=True):
            assert torch.equal(got, ref)


def test_wrong_family_and_unsupported_adapters_are_explained(tmp_path, ca_model):
    sd1 = write_original(original_full_state([32, 64]), tmp_path / "t2iadapter_sd1.safetensors")
    sdxl_unet = build_tiny_components(ModelFamily.SDXL).unet
    with pytest.raises(ControlNetLoadError) as err:
        load_controlnet(ControlNetFile(sd1), dict(sdxl_unet.config), ModelFamily.SDXL, CPU, torch.float32)
    text = str(err.value)
    assert f"t2iadapter_sd1 [{model_hash_old(sd1)}]" in text and "SD1.x" in text and "SDXL" in text
    xl = write_diffusers_adapter_folder(build_diffusers_adapter("full_adapter_xl", [32, 64]), tmp_path / "t2i_xl")
    with pytest.raises(ControlNetLoadError, match=r"is for SDXL models, .* an SD1\.x checkpoint"):
        load_controlnet(ControlNetFile(xl, True), dict(ca_model.unet.config), ModelFamily.SD1, CPU, torch.float32)
    wide = write_original(original_full_state([64, 64]), tmp_path / "t2iadapter_wide.safetensors")
    with pytest.raises(ControlNetLoadError, match=r"\[64, 64\] wide .* \[32, 64\] wide"):
        load_controlnet(ControlNetFile(wide), dict(ca_model.unet.config), ModelFamily.SD1, CPU, torch.float32)
    style = write_original({"style_embedding": torch.zeros(1, 8, 4), "ln_post.weight": torch.zeros(4)},
                           tmp_path / "t2iadapter_style_sd14v1.pth")
    with pytest.raises(ControlNetLoadError, match="style adapter"):
        load_controlnet(ControlNetFile(style), dict(ca_model.unet.config), ModelFamily.SD1, CPU, torch.float32)
    early = original_full_state([32, 64])
    early["body.2.skep.weight"] = torch.zeros(64, 32, 1, 1)
    with pytest.raises(ControlNetLoadError, match="early T2I-Adapter layout"):
        load_controlnet(ControlNetFile(write_original(early, tmp_path / "early.safetensors")),
                        dict(ca_model.unet.config), ModelFamily.SD1, CPU, torch.float32)


def test_listing_names_adapters_like_controlnets(adapter_folder):
    models = scan_controlnet_models([adapter_folder])
    assert [m.stem for m in models] == ["t2i_diff_tiny", "t2i_xl_tiny", "t2iadapter_depth_tiny",
                                        "t2iadapter_sketch_tiny"]
    sketch = models[-1]
    assert sketch.title == f"t2iadapter_sketch_tiny [{model_hash_old(sketch.path)}]"


# --- engine ----------------------------------------------------------------------------------------
class Spy:
    """A UNet wrapper after ControlNet's: what adapter features reach the UNet at each step."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[int, tuple[torch.Tensor, ...] | None]] = []

    def __call__(self, call, call_next):
        self.seen.append((call.step, call.down_intrablock_additional_residuals))
        return call_next(call)


def _unit(**fields):
    return {"enabled": True, "module": "none", "model": "t2iadapter_depth_tiny", "image": control_image(), **fields}


def test_weight_zero_is_the_same_pixels_and_an_adapter_changes_them(ca_ctx, service):
    plain = run_units(ca_ctx, service, [])
    zero = run_units(ca_ctx, service, [_unit(weight=0.0)])
    assert np.array_equal(pixels(plain.images[0]), pixels(zero.images[0]))
    on = run_units(ca_ctx, service, [_unit()])
    assert mean_diff(on, plain) > 2.0
    elsewhere = run_units(ca_ctx, service, [_unit(image=control_image(left=False))])
    assert mean_diff(on, elsewhere) > 1.0  # the control map itself matters
    for model in ("t2iadapter_sketch_tiny", "t2i_diff_tiny"):  # one-channel original, diffusers folder
        assert mean_diff(run_units(ca_ctx, service, [_unit(model=model)]), plain) > 1.0
    params = parse_generation_parameters(on.infotexts[0])
    assert params["ControlNet 0"].startswith("Module: none, Model: t2iadapter_depth_tiny [")


def test_window_is_honoured_and_features_are_computed_once(ca_ctx, service, monkeypatch):
    from diffusers import T2IAdapter

    calls = []
    original = T2IAdapter.forward
    monkeypatch.setattr(T2IAdapter, "forward", lambda self, x: calls.append(x.shape) or original(self, x))
    spies = WrapperFeature(Spy())
    run_units(ca_ctx, service, [_unit(guidance_start=0.25, guidance_end=0.5, weight=0.5)], extra_features=(spies,),
         steps=8)
    active = sorted({step for step, features in spies.spy.seen if features is not None})
    assert active == [2, 3, 4]  # step/8 within [0.25, 0.5]
    assert len(calls) == 1  # once per pass, not per step: the features do not depend on the latent
    features = next(f for _, f in spies.spy.seen if f is not None)
    assert [tuple(f.shape[1:]) for f in features] == [(32, 8, 8), (64, 4, 4)]


def test_hires_pass_gets_features_at_its_own_size(ca_ctx, service, monkeypatch):
    from diffusers import T2IAdapter

    from tests.test_controlnet_engine import HiresPass

    calls = []
    original = T2IAdapter.forward
    monkeypatch.setattr(T2IAdapter, "forward", lambda self, x: calls.append(tuple(x.shape[-2:])) or original(self, x))
    spies = WrapperFeature(Spy())
    request = GenerationRequest(prompt="a red circle", alwayson_scripts={"controlnet": {"args": [_unit()]}},
                                **{**SMALL, "steps": 2})
    generate(request, dataclasses.replace(ca_ctx, features=(HiresPass(), ControlNetFeature(service), spies)))
    assert calls == [(64, 64), (128, 128)]  # one run per pass, on the map fitted to that pass
    sizes = {tuple(f[0].shape[-2:]) for _, f in spies.spy.seen if f is not None}
    assert sizes == {(8, 8), (16, 16)}


def test_control_modes(ca_model):
    """Balanced: weight on every row; prompt more important: the extension's adapter layer scales;
    ControlNet more important: those scales on the prompt rows only."""
    from modules.controlnet.injection import ActiveUnit, ControlNetWrapper
    from modules.controlnet.unit import ControlMode
    from modules.engine.unet_call import UNetCall

    adapter = build_diffusers_adapter("full_adapter", [32, 64])
    hints = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    raw = adapter(hints)
    seen = {}

    def last(call):
        seen["features"] = call.down_intrablock_additional_residuals
        return call.x

    for mode, scales, uncond_zero in ((ControlMode.BALANCED, (0.8, 0.8), False),
                                      (ControlMode.PROMPT, (0.8 * 0.825, 0.8), False),
                                      (ControlMode.CONTROL, (0.8 * 0.825, 0.8), True)):
        unit = ActiveUnit(0, lambda: adapter, hints, 0.8, 0.0, 1.0, mode, is_adapter=True)
        call = UNetCall(torch.randn(2, 4, 8, 8), torch.tensor([500, 500]), torch.ones(2), torch.randn(2, 77, 32),
                        None, is_uncond=torch.tensor([False, True]), image_index=torch.tensor([0, 0]), step=0,
                        total_steps=4)
        ControlNetWrapper([unit])(call, last)
        for got, want, scale in zip(seen["features"], raw, scales, strict=True):
            assert torch.allclose(got[0], want[0] * scale, atol=1e-6)
            assert torch.allclose(got[1], torch.zeros_like(got[1]) if uncond_zero else want[0] * scale, atol=1e-6)


def test_sdxl_full_adapter_xl_changes_the_image(tiny_sdxl, tmp_path, service):
    ctx = engine_context(tiny_sdxl, tmp_path)
    plain = run_units(ctx, service, [])
    on = run_units(ctx, service, [_unit(model="t2i_xl_tiny")])
    assert mean_diff(on, plain) > 1.0
    with pytest.raises(FeatureError, match=r"T2I-Adapter 't2iadapter_depth_tiny \[.*SD1\.x.*SDXL"):
        run_units(ctx, service, [_unit()])


def test_preprocessor_aliases_for_adapters(tmp_path):
    from modules.controlnet.preprocessors.registry import PreprocessorRegistry, UnknownPreprocessorError

    registry = PreprocessorRegistry(tmp_path)
    assert registry.canonical("t2ia_color_grid") == "color"
    assert registry.canonical("t2ia_sketch_pidi") == "pidinet_ts"
    assert registry.get("t2ia_sketch_pidi").annotator_files == ("table5_pidinet.pth",)
    with pytest.raises(UnknownPreprocessorError, match="style adapter"):
        registry.get("t2ia_style_clipvision")


def test_sketch_pidi_is_a_thresholded_pidinet_map(tmp_path):
    from controlnet_aux.pidi.model import pidinet

    from modules.controlnet.preprocessors.registry import PreprocessorRegistry

    torch.manual_seed(0)
    torch.save(pidinet().state_dict(), tmp_path / "table5_pidinet.pth")
    image = np.asarray(control_image())
    registry = PreprocessorRegistry(tmp_path)
    sketch, _ = registry.run("t2ia_sketch_pidi", image, processor_res=64)
    soft, _ = registry.run("pidinet", image, processor_res=64)
    assert sketch.shape == (64, 64, 3) and set(np.unique(sketch)) <= {0, 255}
    assert len(np.unique(soft)) > 2  # the plain soft-edge map is not binary
    assert (sketch[soft >= 128] == 255).all() and (sketch[soft <= 126] == 0).all()  # edge > 0.5, as the extension


# --- API -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, ca_sd1: Path, adapter_folder: Path):
    from tests.test_api_harness import start_live_server

    server = start_live_server(tmp_path_factory.mktemp("t2i-api"), "--nowebui", "--controlnet-dir",
                               str(adapter_folder), ckpt=ca_sd1)
    yield server
    server.stop()


@pytest.fixture()
def client(live) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def test_api_lists_runs_and_round_trips_an_adapter_unit(client: httpx.Client) -> None:
    import base64
    import io

    from modules.controlnet.infotext import units_from_infotext
    from modules.controlnet.unit import parse_unit
    from tests.test_api_harness import assert_error_shape, decode_b64_image

    models = client.get("/controlnet/model_list", params={"update": True}).json()["model_list"]
    title = next(m for m in models if m.startswith("t2iadapter_sketch_tiny ["))
    assert client.get("/controlnet/control_types").json()["control_types"]["T2I-Adapter"]["model_list"][1:] == [
        m for m in models if m.startswith("t2i")]
    buf = io.BytesIO()
    control_image().save(buf, "PNG")
    unit = {"enabled": True, "module": "none", "model": title, "weight": 0.9,
            "image": base64.b64encode(buf.getvalue()).decode(), "guidance_start": 0.0, "guidance_end": 0.8,
            "control_mode": "ControlNet is more important", "resize_mode": "Just Resize", "pixel_perfect": False}
    tiny = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 3, "prompt": "a red circle"}
    response = client.post("/sdapi/v1/txt2img", json={**tiny, "alwayson_scripts": {"controlnet": {"args": [unit]}}})
    assert response.status_code == 200, response.text
    picture = decode_b64_image(response.json()["images"][0])
    pasted = parse_unit(units_from_infotext(parse_generation_parameters(picture.info["parameters"]))[0])
    assert pasted == parse_unit({**unit, "image": None})
    plain = decode_b64_image(client.post("/sdapi/v1/txt2img", json=tiny).json()["images"][0])
    assert np.abs(np.asarray(picture, np.int16) - np.asarray(plain, np.int16)).mean() > 1.0
    low = client.post("/sdapi/v1/txt2img", json={**tiny, "alwayson_scripts": {"controlnet": {"args": [
        {**unit, "low_vram": True}]}}}).json()["images"][0]
    assert np.array_equal(np.asarray(decode_b64_image(low)), np.asarray(picture))  # borrowed per run: same picture
    xl = {**unit, "model": next(m for m in models if m.startswith("t2i_xl_tiny"))}
    response = client.post("/sdapi/v1/txt2img", json={**tiny, "alwayson_scripts": {"controlnet": {"args": [xl]}}})
    assert_error_shape(response, 422, "t2i_xl_tiny", "SDXL", "SD1.x")
