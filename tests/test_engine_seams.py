"""The engine seams on the tiny SD1 model: patch sets, the UNet wrapper chain, passes, hooks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.engine.control import JobControl
from modules.engine.features import Contribution
from modules.engine.generate import generate
from modules.engine.passes import PassSpec, latent_upscale
from modules.engine.request import GenerationRequest
from modules.engine.unet_call import FeatureError
from modules.hooks.host import HookHost
from modules.infotext import parse_generation_parameters
from modules.models.cache import ModelCache
from modules.models.memory import MemoryMode, MemoryPolicy
from modules.models.patches import ForwardWrapper, PatchSet, WeightDelta
from tests.engine_helpers import pixels

SMALL = dict(width=64, height=64, steps=3, cfg_scale=5.0, sampler_name="Euler", save_images=False, seed=7)


def _unet_out(unet: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, unet.config.in_channels, 8, 8, generator=g)
    ctx = torch.randn(1, 77, unet.config.cross_attention_dim, generator=g)
    with torch.no_grad():
        return unet(x, torch.tensor([500]), encoder_hidden_states=ctx, return_dict=False)[0]


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _patch_set(unet: torch.nn.Module) -> PatchSet:
    weight = unet.conv_in.weight
    delta = torch.randn(weight.shape, generator=torch.Generator().manual_seed(1))
    calls = []

    def wrap(forward, *args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs) * 1.5

    return PatchSet("test", weight_deltas=(WeightDelta("unet", "conv_in.weight", delta, 0.5),),
                    wrappers=(ForwardWrapper("unet", "conv_out", wrap),))


@pytest.mark.parametrize("mode", [MemoryMode.CPU, MemoryMode.MEDVRAM])
def test_patch_set_changes_output_in_scope_and_weights_are_bit_identical_after(tiny_sd1: Path, mode) -> None:
    """Under medvram the weights live on the CPU between stages; the patch is applied after placement."""
    cache = ModelCache(MemoryPolicy(mode, "cpu", no_half=True))
    model = cache.get(tiny_sd1)
    before_w, before_out = _weights(model.unet), _unet_out(model.unet)
    patches = _patch_set(model.unet)
    with cache.use("unet", patches=[patches]) as unet:
        inside = _unet_out(unet)
        assert not torch.equal(unet.conv_in.weight, before_w["conv_in.weight"])
    assert not torch.allclose(inside, before_out)
    after = _weights(model.unet)
    assert all(torch.equal(after[k], before_w[k]) for k in before_w)
    assert "forward" not in model.unet.conv_out.__dict__  # the wrapper is gone
    assert torch.equal(_unet_out(model.unet), before_out)


def test_patch_set_is_undone_when_the_scope_raises(tiny_sd1: Path) -> None:
    cache = ModelCache(MemoryPolicy(MemoryMode.CPU, "cpu"))
    model = cache.get(tiny_sd1)
    before = _weights(model.unet)
    with pytest.raises(RuntimeError, match="boom"):
        with cache.use("unet", patches=[_patch_set(model.unet)]):
            raise RuntimeError("boom")
    assert all(torch.equal(v, before[k]) for k, v in _weights(model.unet).items())


def test_patch_naming_a_missing_weight_is_refused(tiny_sd1: Path) -> None:
    cache = ModelCache(MemoryPolicy(MemoryMode.CPU, "cpu"))
    cache.get(tiny_sd1)
    bad = PatchSet("lora-x", weight_deltas=(WeightDelta("unet", "nope.weight", torch.zeros(1)),))
    with pytest.raises(ValueError, match="lora-x.*no weight 'nope.weight'"):
        with cache.use("unet", patches=[bad]):
            pass


class ResidualWrapper:
    """A ControlNet stand-in: adds down/mid residuals of the UNet's own shapes, scaled by `scale`."""

    name = "test residuals"

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.seen: list[tuple[int, int, int]] = []

    def __call__(self, call, call_next):
        down, mid = self._shapes(call, call_next)
        g = torch.Generator().manual_seed(3)
        call.down_block_additional_residuals = tuple(torch.randn(s, generator=g) * self.scale for s in down)
        call.mid_block_additional_residual = torch.randn(mid, generator=g) * self.scale
        self.seen.append((call.step, int(call.is_uncond.sum()), int(call.image_index.max())))
        return call_next(call)

    @staticmethod
    def _shapes(call, call_next):
        """Shapes of the UNet's skip connections, recorded from one un-residualled call."""
        unet = call.extra["unet"]
        shapes: list[torch.Size] = []
        hooks = [unet.conv_in.register_forward_hook(lambda m, i, o: shapes.append(o.shape))]
        for block in unet.down_blocks:
            hooks.append(block.register_forward_hook(lambda m, i, o: shapes.extend(t.shape for t in o[1])))
        hooks.append(unet.mid_block.register_forward_hook(lambda m, i, o: shapes.append(o.shape)))
        try:
            call_next(dataclasses.replace(call))
        finally:
            for h in hooks:
                h.remove()
        return shapes[:-1], shapes[-1]


class WrapperFeature:
    def __init__(self, wrapper, name: str = "residuals") -> None:
        self.wrapper, self.name = wrapper, name

    def contribute(self, setup, pass_):
        unet_ref = ExposeUNet(setup.model.unet)
        return Contribution(unet_wrappers=[unet_ref, self.wrapper], infotext={"Test feature": "on"})


class ExposeUNet:
    name = "expose unet"

    def __init__(self, unet) -> None:
        self.unet = unet

    def __call__(self, call, call_next):
        call.extra["unet"] = self.unet
        return call_next(call)


def test_unet_wrapper_zero_residuals_keep_pixels_nonzero_change_them(ctx) -> None:
    req = GenerationRequest(prompt="a red circle", batch_size=2, **SMALL)
    plain = generate(req, ctx)
    zero = ResidualWrapper(0.0)
    zeroed = generate(req, dataclasses.replace(ctx, features=(WrapperFeature(zero),)))
    for a, b in zip(plain.images, zeroed.images, strict=True):
        assert np.array_equal(pixels(a), pixels(b))
    # cond and uncond rows in one call: 2 cond + 2 uncond rows, rows of images 0 and 1
    assert zero.seen[0] == (0, 2, 1) and len(zero.seen) == 3
    changed = generate(req, dataclasses.replace(ctx, features=(WrapperFeature(ResidualWrapper(1.0)),)))
    assert np.abs(pixels(changed.images[1]) - pixels(plain.images[1])).mean() > 1.0
    assert parse_generation_parameters(changed.infotexts[1])["Test feature"] == "on"


class Raising:
    name = "broken wrapper"

    def __call__(self, call, call_next):
        raise ValueError("cannot use this hint")


def test_raising_unet_wrapper_fails_the_job_with_its_name(ctx, sd1_model) -> None:
    before = _weights(sd1_model.unet)
    req = GenerationRequest(prompt="x", **SMALL)
    with pytest.raises(FeatureError, match="broken wrapper: cannot use this hint"):
        generate(req, dataclasses.replace(ctx, features=(WrapperFeature(Raising()),)))
    assert generate(req, ctx).images  # the next job runs normally
    assert all(torch.equal(v, before[k]) for k, v in _weights(sd1_model.unet).items())


class SecondPass:
    """What hires fix adds: a second pass at 2x with fewer steps from the upscaled latents."""

    name = "two passes"

    def plan(self, setup, passes):
        first = passes[0]
        return [*passes, PassSpec("hires", first.width * 2, first.height * 2, steps=4, sampler_name="Euler",
                                  scheduler="Automatic", cfg_scale=first.cfg_scale, denoising_strength=0.5,
                                  source=latent_upscale("nearest"), infotext={"Hires upscale": 2})]

    def contribute(self, setup, pass_):
        return None


def test_two_pass_plan_runs_both_passes_with_their_step_counts(ctx, sd1_model) -> None:
    sizes: list[tuple[int, int]] = []

    class Spy:
        name = "spy"

        def __call__(self, call, call_next):
            sizes.append((call.pass_index, call.x.shape[-1]))
            return call_next(call)

    class SpyFeature:
        name = "spy"

        def contribute(self, setup, pass_):
            return Contribution(unet_wrappers=[Spy()])

    control = JobControl()
    req = GenerationRequest(prompt="a red circle", **{**SMALL, "steps": 5})
    result = generate(req, dataclasses.replace(ctx, features=(SecondPass(), SpyFeature())), control)
    f = sd1_model.vae_downscale
    # Euler: one UNet call per step. Pass 1: 5 steps at 64 px; pass 2: strength 0.5 of 4 steps = 3 steps at 128 px.
    assert sizes == [(0, 64 // f)] * 5 + [(1, 128 // f)] * 3
    assert result.images[0].size == (128, 128)
    snap = control.snapshot()
    assert (snap.sampling_step, snap.sampling_steps) == (8, 8)  # progress counts both passes
    params = parse_generation_parameters(result.infotexts[0])
    assert params["Hires upscale"] == "2" and params["Steps"] == "5" and params["Denoising strength"] == "0.5"


def test_hook_host_isolates_a_failing_hook(ctx) -> None:
    from modules.engine.hook_feature import HookFeature

    host = HookHost()
    steps: list[int] = []
    host.register("on_step", lambda info: steps.append(info.step), owner="counter")
    host.register("after_image", lambda payload: 1 / 0, owner="bad-extension")
    with pytest.raises(ValueError, match="unknown hook point"):
        host.register("on_everything", print, owner="x")
    with pytest.raises(ValueError, match="version 2"):
        host.register("after_job", print, owner="future", version=2)
    req = GenerationRequest(prompt="x", **SMALL)
    result = generate(req, dataclasses.replace(ctx, hooks=host, features=(HookFeature(host),)))
    assert steps == [1, 2, 3]
    assert len(result.images) == 1
    assert any("'bad-extension' hook on after_image failed" in c for c in result.comments)


class RecordingPlacer:
    """Records where each part is (without moving tensors): the CPU machine plays a GPU."""

    def __init__(self) -> None:
        self.where: dict[str, str] = {}
        self.moves: list[tuple[str, str]] = []

    def move(self, key, modules, device) -> None:
        self.where[key] = device.type
        self.moves.append((key, device.type))


def test_generate_under_medvram_has_only_the_used_part_on_the_device(tiny_sd1: Path, tmp_path: Path) -> None:
    from tests.engine_helpers import engine_context

    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy(MemoryMode.MEDVRAM, "cuda", no_half=True, no_half_vae=True), placer=placer,
                       configs_dir=Path(__file__).resolve().parent.parent / "configs")
    model = cache.get(tiny_sd1)
    placer.where = {k: "cpu" for k in ("unet", "vae", "text_encoders")}  # loaded on the storage device
    used: list[tuple[str, dict[str, str]]] = []

    def spy(name, forward):
        def call(*args, **kwargs):
            used.append((name, dict(placer.where)))
            return forward(*args, **kwargs)
        return call

    model.unet.forward = spy("unet", model.unet.forward)
    model.vae.decode = spy("vae", model.vae.decode)
    model.text_encoders[0].model.forward = spy("text_encoders", model.text_encoders[0].model.forward)
    try:
        ctx = dataclasses.replace(engine_context(tiny_sd1, tmp_path, model=model), models=cache)
        generate(GenerationRequest(prompt="a red circle", **SMALL), ctx)
    finally:
        for module, attr in ((model.unet, "forward"), (model.vae, "decode"), (model.text_encoders[0].model, "forward")):
            del module.__dict__[attr]
    assert {name for name, _ in used} == {"unet", "vae", "text_encoders"}
    for name, where in used:
        assert where[name] == "cuda", (name, where)
        assert all(v == "cpu" for k, v in where.items() if k != name), (name, where)
    # room is made first: every move to the device comes after the previous part went back
    assert placer.moves[:2] == [("text_encoders", "cuda"), ("text_encoders", "cpu")]


def test_runtime_passes_its_features_hooks_and_cache_to_every_job(tmp_path: Path) -> None:
    """Through the app's own path: build_runtime (demo model), a registered feature, the hook host."""
    from modules.cmd_args import parse_args
    from modules.runtime import build_runtime

    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--no-hashing"], environ={}))
    try:
        seen: dict[str, object] = {}

        class Marker:
            name = "marker"

            def contribute(self, setup, pass_):
                seen["models"] = setup.models
                return Contribution(infotext={"Marker": setup.req.alwayson_scripts["marker"]["value"]})

        runtime.features.register(Marker())
        with pytest.raises(ValueError, match="already registered"):
            runtime.features.register(Marker())
        runtime.hooks.register("after_job", lambda p: seen.setdefault("after_job", p.result), owner="test")
        req = GenerationRequest(prompt="a red circle", alwayson_scripts={"marker": {"value": "yes"}}, **SMALL)
        result = runtime.run(req, timeout=120)
        assert parse_generation_parameters(result.infotexts[0])["Marker"] == "yes"
        assert seen["models"] is runtime.models and seen["after_job"] is result
    finally:
        runtime.shutdown()


def test_handles_load_once_and_least_recently_used_leave_the_device_first() -> None:
    from modules.models.handles import ModelHandle

    placer = RecordingPlacer()
    cache = ModelCache(MemoryPolicy(MemoryMode.NORMAL, "cuda", no_half=True), placer=placer,
                       device_budget_bytes=2 * 400 * 4, ram_budget_bytes=3 * 400 * 4)
    loads: list[str] = []

    def loader(key: str):
        return lambda: loads.append(key) or torch.nn.Linear(20, 20)  # 420 floats

    for key in ("a", "b", "c", "d"):
        cache.register(ModelHandle(f"controlnet/{key}", loader(key), kind="controlnet", size_bytes=400 * 4))
    with cache.use("controlnet/a") as net:
        assert isinstance(net, torch.nn.Linear)
    with cache.use(["controlnet/b"]):
        pass
    with cache.use(["controlnet/c"]) as parts:  # over the device budget: "a" (least recent) goes first
        assert isinstance(parts["controlnet/c"], torch.nn.Linear)
    assert placer.where == {"controlnet/a": "cpu", "controlnet/b": "cuda", "controlnet/c": "cuda"}
    assert placer.moves.index(("controlnet/a", "cpu")) < placer.moves.index(("controlnet/c", "cuda"))
    with cache.use(["controlnet/a"]):  # still in RAM: not loaded again
        pass
    assert loads == ["a", "b", "c"]
    cache.module("controlnet/d")  # over the RAM budget: the least recently used model is dropped
    assert not cache.handle("controlnet/b").loaded and cache.handle("controlnet/d").loaded
    with pytest.raises(ValueError, match="Unknown model component 'controlnet/zzz'"):
        with cache.use("controlnet/zzz"):
            pass


def test_a_feature_refusing_its_own_request_fields_is_a_named_bad_request(ctx) -> None:
    from modules.engine.validation import InvalidRequestError

    class Picky:
        name = "ControlNet"

        def contribute(self, setup, pass_):
            raise InvalidRequestError("unit 0: module 'cany' is unknown; choose canny")

    with pytest.raises(InvalidRequestError, match="ControlNet: unit 0: module 'cany' is unknown"):
        generate(GenerationRequest(prompt="x", **SMALL), dataclasses.replace(ctx, features=(Picky(),)))
