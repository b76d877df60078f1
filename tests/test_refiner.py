"""Switching models between passes: the refiner (A1111 1.10) and the hires checkpoint.

Two different tiny SD1 checkpoints (a, b) written by the tests; the app's own Runtime runs the jobs,
so names resolve through the registry and models load through the model cache. Forward hooks on
each loaded UNet record which checkpoint each sampling step ran on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modules.cmd_args import parse_args
from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.hooks.payloads import ModelLoaded
from modules.model_types import ModelFamily
from modules.runtime import build_runtime
from tests.fixtures.tiny_models import make_tiny_checkpoint

SMALL = dict(prompt="a red circle", seed=7, width=64, height=64, sampler_name="Euler", cfg_scale=5.0)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with two different SD1 checkpoints and an SDXL one (another latent family)."""
    data = tmp_path_factory.mktemp("refiner")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    make_tiny_checkpoint(ModelFamily.SD1, folder / "a.safetensors", seed=0)
    make_tiny_checkpoint(ModelFamily.SD1, folder / "b.safetensors", seed=1)
    make_tiny_checkpoint(ModelFamily.SDXL, folder / "xl.safetensors", seed=2)
    return data


class UNetSpy:
    """Records the checkpoint title of every UNet call (hooks each model as it is loaded)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.on_call: Any = None
        self.hooked: list[Any] = []

    def __call__(self, payload: ModelLoaded) -> None:
        if any(m is payload.model for m in self.hooked):
            return  # a kept model made current again is announced again
        self.hooked.append(payload.model)
        stem = Path(payload.model.source_path).stem

        def record(module: Any, args: Any) -> None:
            self.calls.append(stem)
            if self.on_call is not None:
                self.on_call(stem)

        payload.model.unet.register_forward_pre_hook(record)

    def counts(self) -> dict[str, int]:
        return {k: self.calls.count(k) for k in dict.fromkeys(self.calls)}


@pytest.fixture()
def runtime(checkpoints: Path) -> Iterator[Any]:
    rt = build_runtime(parse_args(["--data-dir", str(checkpoints), "--no-demo-model", "--cpu",
                                   "--skip-install"], environ={}))
    rt.settings.update({"sd_model_checkpoint": "a.safetensors"}, save=False)
    rt.checkpoints.wait_for_hashing(60)
    yield rt
    rt.shutdown()


def _spy(rt: Any) -> UNetSpy:
    spy = UNetSpy()
    rt.hooks.register("on_model_loaded", spy, owner="test")
    rt.models.unload()  # the next job loads (and so hooks) the selected model again
    return spy


def _run(rt: Any, **fields: Any) -> Any:
    return rt.run(GenerationRequest(**{**SMALL, "save_images": False, **fields}), timeout=300)


def _pixels(result: Any) -> np.ndarray:
    return np.asarray(result.images[0].convert("RGB"), dtype=np.int16)


def _selected_is_current(rt: Any) -> bool:
    return Path(rt.models.current.source_path).stem == "a"


def test_refiner_takes_over_at_the_switch_step(runtime: Any) -> None:
    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    spy = _spy(runtime)
    plain = _run(runtime, steps=10)
    assert spy.counts() == {"a": 10}
    spy.calls.clear()
    refined = _run(runtime, steps=10, refiner_checkpoint="b", refiner_switch_at=0.6)
    assert spy.calls == ["a"] * 6 + ["b"] * 4  # same sampler, remaining sigmas on b
    assert np.abs(_pixels(plain) - _pixels(refined)).max() > 0
    assert _selected_is_current(runtime)  # A1111 restores the selected checkpoint
    text = refined.infotexts[0]
    short = runtime.checkpoints.find("b").short_title
    assert f"Refiner: {short}" in text and "Refiner switch at: 0.6" in text, text
    assert "Refiner switch by sampling steps: True" in text


def test_refiner_switch_by_sigma_is_the_default(runtime: Any) -> None:
    """A1111's default: the switch comes when (999 - t) / 1000 of the current sigma reaches switch_at."""
    from modules.engine.sampling import discrete_schedule
    from modules.samplers.sigma_plan import ScheduleSettings, build_schedule

    spy = _spy(runtime)
    result = _run(runtime, steps=10, refiner_checkpoint="b.safetensors", refiner_switch_at=0.5)
    model = runtime.models.current
    sampler, scheduler = runtime.samplers.resolve("Euler", "Automatic")
    sigmas = build_schedule(sampler, scheduler, 10, discrete_schedule(model),
                            ScheduleSettings.from_settings(runtime.settings.view({})), is_sdxl=False).sigmas
    table = discrete_schedule(model).sigmas
    ratios = [(999 - int((table - s).abs().argmin())) / 1000 for s in sigmas[:-1]]
    expected = next(i for i, r in enumerate(ratios) if r >= 0.5)
    assert 0 < expected < 10
    assert spy.calls == ["a"] * expected + ["b"] * (10 - expected)
    assert "Refiner switch by sampling steps" not in result.infotexts[0]


def test_refiner_at_one_never_switches_and_writes_nothing(runtime: Any) -> None:
    spy = _spy(runtime)
    result = _run(runtime, steps=4, refiner_checkpoint="b", refiner_switch_at=1.0)
    assert spy.counts() == {"a": 4}
    assert "Refiner" not in result.infotexts[0]


def test_hires_checkpoint_runs_the_second_pass_on_it(runtime: Any) -> None:
    spy = _spy(runtime)
    result = _run(runtime, steps=3, enable_hr=True, hr_scale=2.0, hr_second_pass_steps=4, denoising_strength=0.5,
                  hr_checkpoint_name="b")
    assert result.images[0].size == (128, 128)
    # t_enc + 1 = 3 steps at strength 0.5
    assert spy.calls[:3] == ["a"] * 3 and set(spy.calls[3:]) == {"b"} and len(spy.calls) == 3 + 3
    assert f"Hires checkpoint: {runtime.checkpoints.find('b').short_title}" in result.infotexts[0]
    assert _selected_is_current(runtime)
    same = _run(runtime, steps=3, enable_hr=True, hr_scale=2.0, hr_second_pass_steps=4, denoising_strength=0.5,
                hr_checkpoint_name="Use same checkpoint")
    assert "Hires checkpoint" not in same.infotexts[0]
    assert np.abs(_pixels(same) - _pixels(result)).max() > 0


def test_refiner_with_hires_refines_the_second_pass_by_default(runtime: Any) -> None:
    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    spy = _spy(runtime)
    result = _run(runtime, steps=4, enable_hr=True, hr_scale=2.0, hr_second_pass_steps=4, denoising_strength=1.0,
                  refiner_checkpoint="b", refiner_switch_at=0.5)
    assert spy.calls == ["a"] * 4 + ["a"] * 2 + ["b"] * 2
    assert "Hires refiner" not in result.infotexts[0]
    spy.calls.clear()
    runtime.settings.update({"hires_fix_refiner_pass": "both passes"}, save=False)
    result = _run(runtime, steps=4, enable_hr=True, hr_scale=2.0, hr_second_pass_steps=4, denoising_strength=1.0,
                  refiner_checkpoint="b", refiner_switch_at=0.5)
    assert spy.calls == ["a", "a", "b", "b", "a", "a", "b", "b"], str(spy.calls)
    assert "Hires refiner: both passes" in result.infotexts[0]


def test_refiner_in_img2img(runtime: Any) -> None:
    from PIL import Image

    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    spy = _spy(runtime)
    init = Image.new("RGB", (64, 64), (200, 40, 40))
    result = _run(runtime, mode="img2img", init_images=(init,), denoising_strength=1.0, steps=4,
                  refiner_checkpoint="b", refiner_switch_at=0.5)
    assert spy.calls == ["a", "a", "b", "b"]
    assert "Refiner: " in result.infotexts[0]


def test_interrupt_while_the_refiner_samples(runtime: Any) -> None:
    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    spy = _spy(runtime)
    job = runtime.submit(GenerationRequest(**{**SMALL, "steps": 8, "n_iter": 2, "save_images": False,
                                               "refiner_checkpoint": "b", "refiner_switch_at": 0.5}))
    spy.on_call = lambda stem: job.control.interrupt() if stem == "b" else None
    result = job.wait(300)
    assert result.interrupted and not result.images
    assert spy.calls.count("b") == 1 and "a" in spy.calls
    assert _selected_is_current(runtime)
    spy.on_call = None
    assert len(_run(runtime, steps=2).images) == 1  # the app goes on


def test_bad_names_and_values_are_refused_naming_them(runtime: Any) -> None:
    from modules.refiner.switcher import check_request_checkpoints

    selected = runtime.checkpoints.find("a")
    cases = [
        (dict(refiner_checkpoint="nope"), ["refiner_checkpoint", "'nope'", "a.safetensors", "b.safetensors"]),
        (dict(enable_hr=True, hr_checkpoint_name="nope"), ["hr_checkpoint_name", "'nope'", "xl.safetensors"]),
        (dict(refiner_checkpoint="b", refiner_switch_at=1.5), ["refiner_switch_at", "1.5"]),
        (dict(refiner_checkpoint="b", refiner_switch_at=-0.1), ["refiner_switch_at"]),
        (dict(refiner_checkpoint="xl"), ["xl.safetensors", "a.safetensors", "SDXL", "SD 1.x/2.x"]),
    ]
    for fields, needles in cases:
        req = GenerationRequest(**{**SMALL, **fields})
        with pytest.raises(InvalidRequestError) as err:
            check_request_checkpoints(runtime, req, selected)
        for needle in needles:
            assert needle in str(err.value), (needle, str(err.value))
    for fields in (dict(refiner_checkpoint="Use same checkpoint"), dict(refiner_checkpoint="a"),
                   dict(enable_hr=True, hr_checkpoint_name="")):
        check_request_checkpoints(runtime, GenerationRequest(**{**SMALL, **fields}), selected)


def test_medvram_moves_the_first_model_aside_before_the_second_is_placed(runtime: Any) -> None:
    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryMode, MemoryPolicy

    where: dict[int, str] = {}

    class Placer:
        def move(self, key: str, modules: list, device: Any) -> None:
            for module in modules:
                where[id(module)] = device.type

    policy = MemoryPolicy(MemoryMode.MEDVRAM, "cuda", no_half=True, no_half_vae=True)
    runtime.models = ModelCache(policy, placer=Placer(), configs_dir=runtime.paths.configs_dir)
    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    loaded: dict[str, Any] = {}
    seen: list[tuple[str, str, str]] = []

    def remember(payload: ModelLoaded) -> None:
        stem = Path(payload.model.source_path).stem
        loaded[stem] = payload.model

        def record(module: Any, args: Any) -> None:
            other = loaded["a" if stem == "b" else "b"] if len(loaded) > 1 else None
            parts = [] if other is None else [other.unet, other.vae, *(t.model for t in other.text_encoders)]
            places = {where.get(id(p), "cpu") for p in parts}
            seen.append((stem, where.get(id(module), "cpu"), "-" if other is None else ",".join(sorted(places))))

        payload.model.unet.register_forward_pre_hook(record)

    runtime.hooks.register("on_model_loaded", lambda p: None if p.model in loaded.values() else remember(p),
                           owner="test")
    _run(runtime, steps=4, refiner_checkpoint="b", refiner_switch_at=0.5)
    assert [s for s, _, _ in seen] == ["a", "a", "b", "b"]
    for _stem, mine, other in seen:
        assert mine == "cuda", seen
        assert other in ("cpu", "-"), seen  # every part of the other model is off the device meanwhile
    assert _selected_is_current(runtime)
    assert runtime.models.kept_checkpoints() == []  # sd_checkpoints_limit 1: only the selected stays


def test_checkpoint_limit_keeps_the_refiner_in_ram(runtime: Any) -> None:
    runtime.settings.update({"sd_checkpoints_limit": 2}, save=False)
    spy = _spy(runtime)
    _run(runtime, steps=2, refiner_checkpoint="b", refiner_switch_at=0.5, n_iter=2)
    loads = [c for c in spy.calls]
    assert loads.count("b") >= 2
    assert [p.stem for p in runtime.models.kept_checkpoints()] == ["b"]


def test_infotext_paste_restores_the_refiner(runtime: Any) -> None:
    from modules.api.infotext_fill import parse_infotext, request_values
    from modules.ui.infotext_paste import paste_values

    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    first = _run(runtime, steps=4, refiner_checkpoint="b", refiner_switch_at=0.5)
    params = parse_infotext(first.infotexts[0], runtime.settings, runtime.styles)
    values = request_values(params, "txt2img", set())
    assert values["refiner_switch_at"] == 0.5
    assert runtime.checkpoints.find(values["refiner_checkpoint"]).stem == "b"
    again = _run(runtime, steps=4, refiner_checkpoint=values["refiner_checkpoint"],
                 refiner_switch_at=values["refiner_switch_at"])
    assert np.array_equal(_pixels(first), _pixels(again))
    ui = paste_values(params).values
    assert ui["refiner_switch_at"] == 0.5 and ui["enable_refiner"] is True


def test_ui_paste_and_form_round_trip(runtime: Any) -> None:
    """The ↙️ paste fills the Refiner accordion with the dropdown's title; the form makes the request."""
    from modules.ui.img2img_form import Img2ImgForm
    from modules.ui.img2img_form import to_request as img2img_request
    from modules.ui.paste_actions import plan_paste
    from modules.ui.txt2img_form import Txt2ImgForm, to_request

    title, short = runtime.checkpoints.find("b").title, runtime.checkpoints.find("b").short_title
    text = (f"a cat\nSteps: 4, Sampler: Euler, Seed: 1, Size: 64x64, Refiner: {short}"
            f", Refiner switch at: 0.7, Hires upscale: 2, Hires checkpoint: b, Denoising strength: 0.5")
    plan = plan_paste(runtime, text)
    assert plan.values["enable_refiner"] is True and plan.values["refiner_checkpoint"] == title
    assert plan.values["refiner_switch_at"] == 0.7 and plan.values["hr_checkpoint_name"] == title
    assert plan.values["enable_hr"] is True
    plan = plan_paste(runtime, "a cat\nSteps: 4, Refiner: gone [0123456789], Refiner switch at: 0.7")
    assert plan.values["enable_refiner"] is False and any("gone" in w for w in plan.warnings)
    assert plan_paste(runtime, "a cat\nSteps: 4").values["enable_refiner"] is False
    req = to_request(Txt2ImgForm(enable_refiner=True, refiner_checkpoint=title, refiner_switch_at=0.6))
    assert (req.refiner_checkpoint, req.refiner_switch_at) == (title, 0.6)
    assert to_request(Txt2ImgForm(enable_refiner=False, refiner_checkpoint=title)).refiner_checkpoint is None
    from PIL import Image

    form = Img2ImgForm(init_img=Image.new("RGB", (64, 64)), enable_refiner=True, refiner_checkpoint=title,
                       refiner_switch_at=0.3)
    assert img2img_request(form).refiner_switch_at == 0.3


def test_sdxl_refiner_checkpoint_finishes_an_sdxl_job(tmp_path: Path) -> None:
    """The SDXL refiner (OpenCLIP-G only, aesthetic-score time ids) in its original single-file layout."""
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    make_tiny_checkpoint(ModelFamily.SDXL, folder / "base.safetensors", seed=0)
    make_tiny_checkpoint(ModelFamily.SDXL_REFINER, folder / "refiner.safetensors", seed=1)
    rt = build_runtime(parse_args(["--data-dir", str(tmp_path), "--no-demo-model", "--cpu", "--skip-install",
                                   "--no-hashing"], environ={}))
    try:
        rt.settings.update({"sd_model_checkpoint": "base.safetensors", "refiner_switch_by_sample_steps": True},
                           save=False)
        seen: list[tuple[str, int]] = []

        def hook(payload: ModelLoaded) -> None:
            stem = Path(payload.model.source_path).stem
            if any(s == stem for s, _ in seen) or getattr(payload.model.unet, "_spied", False):
                return
            payload.model.unet._spied = True

            def record(module: Any, args: Any, kwargs: dict) -> None:
                seen.append((stem, int(kwargs["added_cond_kwargs"]["time_ids"].shape[-1])))

            payload.model.unet.register_forward_pre_hook(record, with_kwargs=True)

        rt.hooks.register("on_model_loaded", hook, owner="test")
        result = _run(rt, steps=4, refiner_checkpoint="refiner", refiner_switch_at=0.5)
        # base: 6 size/crop time ids; refiner: 5 (size, crop, aesthetic score), as SDXL's refiner is trained
        assert seen == [("base", 6)] * 2 + [("refiner", 5)] * 2
        assert "Refiner: refiner, Refiner switch at: 0.5" in result.infotexts[0]
        assert Path(rt.models.current.source_path).stem == "base"
    finally:
        rt.shutdown()


def test_ui_has_the_accordions_and_refuses_bad_names_beside_the_form(runtime: Any) -> None:
    import dataclasses

    import gradio as gr

    from modules.ui.blocks import create_blocks
    from modules.ui.output_panel import OutputPanel
    from modules.ui.txt2img import make_generate

    demo = create_blocks(runtime)
    c = {x["props"]["elem_id"]: x["props"] for x in demo.config["components"] if x["props"].get("elem_id")}
    titles = [i.title for i in runtime.checkpoints.list()]
    for tab in ("txt2img", "img2img"):
        assert c[f"script_{tab}_refiner_enable"]["label"] == "Refiner"
        assert c[f"script_{tab}_refiner_checkpoint"]["label"] == "Checkpoint"
        assert [x[1] for x in c[f"script_{tab}_refiner_checkpoint"]["choices"]] == ["", *titles]
        switch = c[f"script_{tab}_refiner_switch_at"]
        assert (switch["label"], switch["value"], switch["minimum"], switch["maximum"]) == (
            "Switch at", 0.8, 0.01, 1)
    hires = c["hr_checkpoint"]
    assert hires["label"] == "Hires checkpoint"
    assert [x[1] for x in hires["choices"]] == ["Use same checkpoint", *titles]
    with gr.Blocks():
        panel = OutputPanel(*[gr.HTML() for _ in dataclasses.fields(OutputPanel)])
    outputs = list(make_generate(runtime, panel)("task(txt2img-REFINER1)", width=64, height=64, steps=2,
                                                 enable_refiner=True, refiner_checkpoint="gone.safetensors"))
    message = outputs[0][panel.html_log].replace("&#x27;", "'")
    assert len(outputs) == 1 and "Refiner checkpoint: checkpoint 'gone.safetensors' not found" in message
    assert "b.safetensors" in message and "choose one from the list" in message
    assert runtime.queue.get("task(txt2img-REFINER1)") is None


def test_job_features_contribute_for_the_model_of_each_pass(runtime: Any) -> None:
    """A feature's patches (here a forward wrapper on the UNet, as LoRA's hook mode) reach the refiner's
    UNet during its steps, and the feature saw the refiner's model for that pass."""
    from modules.engine.features import Contribution
    from modules.models.patches import ForwardWrapper, PatchSet

    runtime.settings.update({"refiner_switch_by_sample_steps": True}, save=False)
    seen: list[tuple[str, str]] = []
    wrapped: list[str] = []

    class Recorder:
        name = "recorder"

        def contribute(self, setup: Any, pass_: Any) -> Contribution:
            stem = Path(pass_.model.source_path).stem
            seen.append((pass_.spec.name, stem))

            def wrap(original: Any, *args: Any, **kwargs: Any) -> Any:
                wrapped.append(stem)
                return original(*args, **kwargs)

            return Contribution(patches=[PatchSet("spy", wrappers=(ForwardWrapper("unet", "", wrap),))])

    runtime.features.register(Recorder())
    _run(runtime, steps=4, refiner_checkpoint="b", refiner_switch_at=0.5, tiling=True)
    assert seen == [("first", "a"), ("refiner", "b")]
    assert wrapped == ["a", "a", "b", "b"]


def test_cache_keeps_checkpoints_per_the_limit_and_pins_the_selected_one(checkpoints: Path) -> None:
    from modules.models.cache import ModelCache
    from modules.models.memory import MemoryPolicy

    folder = checkpoints / "models" / "Stable-diffusion"
    a, b = folder / "a.safetensors", folder / "b.safetensors"
    limit = [1]
    cache = ModelCache(MemoryPolicy.from_flags(device="cpu"), checkpoint_limit=lambda: limit[0],
                       configs_dir=Path(__file__).resolve().parent.parent / "configs")
    first_a = cache.get(a)
    cache.get(b)
    assert cache.kept_checkpoints() == [] and cache.get(a) is not first_a  # limit 1: read again
    limit[0] = 2
    model_a = cache.current
    cache.get(b)
    assert cache.kept_checkpoints() == [a] and cache.get(a) is model_a  # limit 2: kept in RAM
    assert cache.kept_checkpoints() == [b]
    limit[0] = 1
    with cache.pinned(a):
        cache.get(b)
        assert cache.kept_checkpoints() == [a]  # pinned: kept although the limit is 1
        assert cache.get(a) is model_a and cache.kept_checkpoints() == []
        cache.get(b)
    assert cache.kept_checkpoints() == []  # unpinned: the limit applies again
