"""Infotext writer and reader against the exact A1111 texts of reference §6."""

import pytest

from modules.infotext import (
    build_infotext,
    old_hires_first_pass_size,
    ordered_generation_params,
    parse_generation_parameters,
    parse_version,
    prompt_uses_emphasis,
    quote,
    unquote,
)

EXAMPLE_UI = (
    "a cozy cabin in the woods, (snow:1.2), <lora:winterStyle:0.8>\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x512, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "winterStyle: 0123456789ab", '
    "Version: v1.10.1"
)
EXAMPLE_API = (
    "portrait of an astronaut, studio lighting\n"
    "Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 42, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.55, Clip skip: 2, "
    "Hires upscale: 2.0, Hires upscaler: Latent, Version: v1.10.1"
)
EXAMPLE_INPAINT = (
    "a red sports car\n"
    "Negative prompt: (worst quality:1.4)\n"
    "Steps: 25, Sampler: DPM++ 2M SDE, Schedule type: Exponential, CFG scale: 6.5, Seed: 987654321, "
    "Size: 768x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.6, Mask blur: 4, "
    "Inpaint area: Only masked, Masked area padding: 32, Version: v1.10.1"
)
COMMON = dict(model_hash="6ce0161689", model="v1-5-pruned-emaonly", version="v1.10.1")


def test_ui_example_is_built_byte_for_byte_and_parses_back():
    params = ordered_generation_params(
        steps=20, sampler="DPM++ 2M", schedule_type="Karras", cfg_scale=7, seed=1234567890, size=(512, 512),
        clip_skip=1, rng="GPU", extras={"Lora hashes": "winterStyle: 0123456789ab"}, **COMMON)
    prompt = "a cozy cabin in the woods, (snow:1.2), <lora:winterStyle:0.8>"
    text = build_infotext(prompt, "blurry, lowres", params)
    assert text == EXAMPLE_UI
    res = parse_generation_parameters(text)
    assert res["Prompt"] == "a cozy cabin in the woods, (snow:1.2), <lora:winterStyle:0.8>"
    assert res["Negative prompt"] == "blurry, lowres"
    assert (res["Steps"], res["Sampler"], res["Schedule type"]) == ("20", "DPM++ 2M", "Karras")
    assert res["CFG scale"] == "7"
    assert (res["Seed"], res["Size-1"], res["Size-2"]) == ("1234567890", "512", "512")
    assert res["Lora hashes"] == "winterStyle: 0123456789ab"
    assert res["Model hash"] == "6ce0161689" and res["Version"] == "v1.10.1"
    assert res["Clip skip"] == "1" and res["RNG"] == "GPU"
    assert res["Emphasis"] == "Original"  # the prompt weights "snow"
    assert "Size" not in res


def test_api_example_keeps_floats_and_puts_extras_after_fixed_keys():
    params = ordered_generation_params(
        steps=30, sampler="Euler a", schedule_type="Automatic", cfg_scale=7.0, seed=42, size="512x768",
        denoising_strength=0.55, clip_skip=2, extras={"Hires upscale": 2.0, "Hires upscaler": "Latent"},
        **COMMON)
    text = build_infotext("portrait of an astronaut, studio lighting", "", params)
    assert text == EXAMPLE_API
    res = parse_generation_parameters(text)
    assert res["Negative prompt"] == ""
    assert (res["CFG scale"], res["Clip skip"], res["Hires upscale"]) == ("7.0", "2", "2.0")
    assert res["Denoising strength"] == "0.55" and res["Hires upscaler"] == "Latent"
    assert "Emphasis" not in res


def test_inpaint_example_round_trips():
    extras = {"Mask blur": 4, "Inpaint area": "Only masked", "Masked area padding": 32}
    params = ordered_generation_params(
        steps=25, sampler="DPM++ 2M SDE", schedule_type="Exponential", cfg_scale=6.5, seed=987654321,
        size=(768, 512), vae_hash="735e4c3a44", vae="vae-ft-mse-840000-ema-pruned.safetensors",
        denoising_strength=0.6, extras=extras, **COMMON)
    text = build_infotext("a red sports car", "(worst quality:1.4)", params)
    assert text == EXAMPLE_INPAINT
    res = parse_generation_parameters(text)
    assert res["Negative prompt"] == "(worst quality:1.4)"
    assert res["Inpaint area"] == "Only masked" and res["Masked area padding"] == "32"
    assert res["VAE"] == "vae-ft-mse-840000-ema-pruned.safetensors" and res["Mask blur"] == "4"
    assert res["Emphasis"] == "Original"  # emphasis in the negative counts too


def test_classic_pre_16_line_and_defaults():
    res = parse_generation_parameters(
        "masterpiece\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b")
    assert res["Prompt"] == "masterpiece" and res["Model hash"] == "45dee52b"
    assert res["Schedule type"] == "Automatic" and res["Clip skip"] == "1"
    assert res["Hires resize-1"] == 0 and res["Hires sampler"] == "Use same sampler"
    assert res["Masked area padding"] == 32 and res["Mask mode"] == "Inpaint masked"
    assert res["FP8 weight"] == "Disable" and res["Refiner switch by sampling steps"] is False
    assert res["VAE Encoder"] == res["VAE Decoder"] == "Full"
    assert "Cache FP16 weight for LoRA" not in res and "Downcast alphas_cumprod" not in res


def test_quote_rule_and_unquote():
    assert quote(7) == "7" and quote(7.0) == "7.0" and quote("Euler a") == "Euler a"
    assert quote("a, b") == '"a, b"' and quote("k: v") == '"k: v"' and quote("x\ny") == '"x\\ny"'
    assert quote('say "hi", ok') == '"say \\"hi\\", ok"'
    assert quote("日本, 語") == '"日本, 語"'  # ensure_ascii=False
    assert unquote('"a, b"') == "a, b" and unquote("plain") == "plain" and unquote('"broken') == '"broken'
    assert unquote('"bad \\q escape"') == '"bad \\q escape"'


def test_quoted_values_round_trip():
    tricky = {"Hires prompt": 'line1\nline2, with: "quotes" \\ slash', "Note": "a: b", "Plain": "x"}
    text = build_infotext("p", "", {"Steps": 4, "Seed": 1, **tricky})
    res = parse_generation_parameters(text)
    for key, value in tricky.items():
        assert res[key] == value


def test_none_skipped_and_key_equal_value_written_alone():
    params = {"Steps": 4, "Face restoration": None, "Seed": 1, "Flag": "Flag", "CFG scale": 7}
    text = build_infotext("p", "", params)
    assert text == "p\nSteps: 4, Seed: 1, Flag, CFG scale: 7"


def test_multiline_prompt_and_negative_round_trip():
    prompt, negative = "line one\nline two, (x:1.1)", "bad\nworse"
    text = build_infotext(prompt, negative, {"Steps": 4, "Sampler": "Euler", "Seed": 3})
    res = parse_generation_parameters(text)
    assert (res["Prompt"], res["Negative prompt"]) == (prompt, negative)


def test_last_line_with_fewer_than_three_pairs_is_prompt():
    res = parse_generation_parameters("a cat\nstyle: anime, mood: calm")
    assert res["Prompt"] == "a cat\nstyle: anime, mood: calm" and "style" not in res


def test_crlf_and_empty_values():
    text = "a\r\nNegative prompt: b\r\nSteps: 4, Sampler: Euler, Seed: 1, Empty: ,\r\n"
    res = parse_generation_parameters(text)
    assert (res["Prompt"], res["Negative prompt"], res["Sampler"]) == ("a", "b", "Euler")
    assert "Empty" not in res  # A1111 drops empty values


def test_ordered_params_key_order_and_conditions():
    params = ordered_generation_params(
        tiling=True, version="v1", rng="CPU", clip_skip=1, seed=5, steps=3, user="bob",
        seed_resize_from=(256, 320), extras={"Seed": 6, "Zeta": 1, "Alpha": 2})
    present = [k for k, v in params.items() if v is not None]
    assert present == ["Steps", "Seed", "Seed resize from", "RNG", "Tiling", "Zeta", "Alpha",
                       "Version", "User"]
    assert params["Seed"] == 6 and params["Tiling"] == "True" and params["Seed resize from"] == "256x320"
    assert ordered_generation_params(rng="GPU", clip_skip=2)["RNG"] is None


def test_skip_fields_hypernet_styles_and_first_pass_size():
    text = "cat\nSteps: 4, Seed: 1, Hypernet: anime, First pass size: 0x0, Size: 1024x1024, Sampler: Euler"
    res = parse_generation_parameters(text, skip_fields=["Seed"])
    assert "Seed" not in res
    assert res["Prompt"] == "cat<hypernet:anime:1.0>"
    assert (res["Size-1"], res["Size-2"]) == old_hires_first_pass_size(1024, 1024) == (512, 512)
    assert (res["Hires resize-1"], res["Hires resize-2"]) == (1024, 1024)


def test_style_extractor_is_used_unless_ignored():
    def extract(prompt, negative):
        return ["Film"], prompt.replace(", film grain", ""), negative

    text = "cat, film grain\nSteps: 4, Seed: 1, Sampler: Euler"
    res = parse_generation_parameters(text, extract_styles=extract)
    assert res["Prompt"] == "cat" and res["Styles array"] == ["Film"]
    ignored = parse_generation_parameters(text, extract_styles=extract, styles_mode="Ignore")
    assert ignored["Prompt"] == "cat, film grain" and "Styles array" not in ignored
    discard = parse_generation_parameters(text, extract_styles=extract, styles_mode="Discard")
    assert discard["Prompt"] == "cat" and "Styles array" not in discard


def test_backcompat_flags_from_version():
    res = parse_generation_parameters("a [b:c:5]\nSteps: 4, Sampler: DDIM, Seed: 1, Version: v1.5.1")
    assert res["Old prompt editing timelines"] is True and res["Pad conds v0"] is True
    assert res["Downcast alphas_cumprod"] is True
    new = parse_generation_parameters("a [b:c:5]\nSteps: 4, Sampler: DDIM, Seed: 1, Version: v1.10.1")
    assert "Old prompt editing timelines" not in new and "Downcast alphas_cumprod" not in new
    assert parse_version("v1.7.0-225-g1234") == (1, 7, 0, 225) and parse_version("sdui-0.1.0") is None


@pytest.mark.parametrize(("prompt", "expected"), [
    ("plain words", False), ("(a)", True), ("[a]", True), ("(a:1.0)", False), ("(a:0.9)", True),
    (r"\(not weighted\)", False), ("(unclosed", True), ("a BREAK b", False),
])
def test_emphasis_detection(prompt, expected):
    assert prompt_uses_emphasis(prompt) is expected
