"""The settings A1111 users know (option keys, defaults, labels, sections), for what exists.

Keys are A1111's option keys so `config.json`, `/sdapi/v1/options` and `override_settings`
stay compatible. Each option says which UI component draws it; the UI builds the Settings tab
from this table, the API validates `override_settings` against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SECTIONS: dict[str, str] = {
    "saving-images": "Saving images/grids",
    "saving-paths": "Paths for saving",
    "saving-to-dirs": "Saving to a directory",
    "sd": "Stable Diffusion",
    "sdxl": "Stable Diffusion XL",
    "vae": "VAE",
    "upscaling": "Upscaling",
    "face-restoration": "Face restoration",
    "img2img": "img2img",
    "infotext": "Infotext",
    "ui": "User interface",
    "settings-in-ui": "Settings in UI",
    "live-previews": "Live previews",
    "sampler-params": "Sampler parameters",
    "system": "System",
    "extra-networks": "Extra Networks",
    "interrogate": "Interrogate",
    "control_net": "ControlNet",
    "hidden": "Hidden",
}


@dataclass(frozen=True)
class OptionInfo:
    """One setting: default, label, section and how the UI draws it."""

    default: Any
    label: str
    section: str
    component: str = "auto"  # auto | checkbox | slider | number | textbox | radio | dropdown
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | None = None
    infotext: str | None = None  # infotext key that pastes into this option
    needs_restart: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _slider(default: float, label: str, section: str, lo: float, hi: float, step: float, **kw: Any) -> OptionInfo:
    return OptionInfo(default, label, section, "slider", lo, hi, step, **kw)


def _radio(default: str, label: str, section: str, choices: tuple[str, ...], **kw: Any) -> OptionInfo:
    return OptionInfo(default, label, section, "radio", choices=choices, **kw)


FILENAME_HELP = "see the wiki for [tags]"

_SAVING: dict[str, OptionInfo] = {
    "samples_save": OptionInfo(True, "Always save all generated images", "saving-images"),
    "samples_format": OptionInfo("png", "File format for images", "saving-images", "textbox"),
    "samples_filename_pattern": OptionInfo("", f"Images filename pattern ({FILENAME_HELP})", "saving-images",
                                           "textbox"),
    "save_images_add_number": OptionInfo(True, "Add number to filename when saving", "saving-images"),
    "save_images_replace_action": _radio("Replace", "Saving the image to an existing file", "saving-images",
                                         ("Replace", "Add number suffix")),
    "grid_save": OptionInfo(True, "Always save all generated image grids", "saving-images"),
    "grid_format": OptionInfo("png", "File format for grids", "saving-images", "textbox"),
    "grid_extended_filename": OptionInfo(False, "Add extended info (seed, prompt) to filename when saving grid",
                                         "saving-images"),
    "grid_only_if_multiple": OptionInfo(True, "Do not save grids consisting of one picture", "saving-images"),
    "n_rows": _slider(-1, "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
                      "saving-images", -1, 16, 1),
    "enable_pnginfo": OptionInfo(True, "Save text information about generation parameters as chunks to png files",
                                 "saving-images"),
    "save_txt": OptionInfo(False, "Create a text file next to every image with generation parameters.",
                           "saving-images"),
    "jpeg_quality": _slider(80, "Quality for saved jpeg and webp images", "saving-images", 1, 100, 1),
    "webp_lossless": OptionInfo(False, "Use lossless compression for webp images", "saving-images"),
    "export_for_4chan": OptionInfo(False, "Save copy of large images as JPG", "saving-images"),
    "save_init_img": OptionInfo(False, "Save init images when using img2img", "saving-images"),
    "return_grid": OptionInfo(True, "Show grid in gallery", "saving-images"),
}

_PATHS: dict[str, OptionInfo] = {
    "outdir_samples": OptionInfo("", "Output directory for images; if empty, defaults to three directories below",
                                 "saving-paths", "textbox"),
    "outdir_txt2img_samples": OptionInfo("outputs/txt2img-images", "Output directory for txt2img images",
                                         "saving-paths", "textbox"),
    "outdir_img2img_samples": OptionInfo("outputs/img2img-images", "Output directory for img2img images",
                                         "saving-paths", "textbox"),
    "outdir_extras_samples": OptionInfo("outputs/extras-images", "Output directory for images from extras tab",
                                        "saving-paths", "textbox"),
    "outdir_grids": OptionInfo("", "Output directory for grids; if empty, defaults to two directories below",
                               "saving-paths", "textbox"),
    "outdir_txt2img_grids": OptionInfo("outputs/txt2img-grids", "Output directory for txt2img grids",
                                       "saving-paths", "textbox"),
    "outdir_img2img_grids": OptionInfo("outputs/img2img-grids", "Output directory for img2img grids",
                                       "saving-paths", "textbox"),
    "outdir_save": OptionInfo("log/images", "Directory for saving images using the Save button",
                              "saving-paths", "textbox"),
    "save_to_dirs": OptionInfo(True, "Save images to a subdirectory", "saving-to-dirs"),
    "grid_save_to_dirs": OptionInfo(True, "Save grids to a subdirectory", "saving-to-dirs"),
    "directories_filename_pattern": OptionInfo("[date]", "Directory name pattern", "saving-to-dirs", "textbox"),
    "directories_max_prompt_words": _slider(8, "Max prompt words for [prompt_words] pattern", "saving-to-dirs",
                                            1, 20, 1),
}

_SD: dict[str, OptionInfo] = {
    "sd_model_checkpoint": OptionInfo(None, "Stable Diffusion checkpoint", "sd", "dropdown", infotext="Model hash"),
    "sd_vae": OptionInfo("Automatic", "SD VAE", "sd", "dropdown", infotext="VAE"),
    "CLIP_stop_at_last_layers": _slider(1, "Clip skip", "sd", 1, 12, 1, infotext="Clip skip"),
    "emphasis": _radio("Original", "Emphasis mode", "sd", ("Original", "No norm", "Ignore", "None"),
                       infotext="Emphasis"),
    "comma_padding_backtrack": _slider(20, "Prompt word wrap length limit", "sd", 0, 74, 1),
    "use_old_scheduling": OptionInfo(False, "Use old prompt editing timelines", "sd",
                                     infotext="Old prompt editing timelines"),
    "randn_source": _radio("GPU", "Random number generator source.", "sd", ("GPU", "CPU", "NV"), infotext="RNG"),
    "tiling": OptionInfo(False, "Tiling", "sd", infotext="Tiling"),
    "enable_quantization": OptionInfo(False, "Enable quantization in K samplers for sharper and cleaner results",
                                      "sd"),
    "sdxl_clip_l_skip": OptionInfo(False, "Clip skip SDXL", "sdxl"),
    "sdxl_crop_top": OptionInfo(0, "crop top coordinate", "sdxl", "number"),
    "sdxl_crop_left": OptionInfo(0, "crop left coordinate", "sdxl", "number"),
    "hires_fix_refiner_pass": _radio("second pass", "Hires fix: which pass to enable refiner for", "sd",
                                     ("first pass", "second pass", "both passes"), infotext="Hires refiner"),
    "refiner_switch_by_sample_steps": OptionInfo(False, "Switch to refiner by sampling steps instead of by "
                                                 "sigma", "sd", infotext="Refiner switch by sampling steps"),
    "img2img_fix_steps": OptionInfo(False, "With img2img, do exactly the amount of steps the slider specifies",
                                    "img2img"),
    "img2img_extra_noise": _slider(0.0, "Extra noise multiplier for img2img and hires fix", "img2img", 0, 1, 0.01,
                                   infotext="Extra noise"),
    "initial_noise_multiplier": _slider(1.0, "Noise multiplier for img2img", "img2img", 0.0, 1.5, 0.001,
                                        infotext="Noise multiplier"),
    "img2img_color_correction": OptionInfo(False, "Apply color correction to img2img results to match "
                                           "original colors", "img2img"),
    "inpainting_mask_weight": _slider(1.0, "Inpainting conditioning mask strength", "img2img", 0, 1, 0.01,
                                      infotext="Conditional mask weight"),
    "img2img_background_color": OptionInfo("#ffffff", "With img2img, fill transparent parts of the input image "
                                           "with this color", "img2img", "textbox"),
    "upscaling_max_images_in_cache": _slider(5, "Number of upscaled images to cache", "img2img", 0, 10, 1),
}

_INFOTEXT_UI: dict[str, OptionInfo] = {
    "add_version_to_infotext": OptionInfo(True, "Add program version to generation information", "infotext"),
    "infotext_styles": _radio("Apply if any", "Infer styles from prompts of pasted infotext", "infotext",
                              ("Ignore", "Apply", "Discard", "Apply if any")),
    "disable_weights_auto_swap": OptionInfo(True, "Disregard checkpoint information from pasted infotext",
                                            "infotext"),
    "samplers_in_dropdown": OptionInfo(True, "Use dropdown for sampler selection instead of radio group", "ui"),
    "hide_samplers": OptionInfo([], "Hide samplers in user interface", "ui", "dropdown"),
    "quicksettings_list": OptionInfo(["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"],
                                     "Quicksettings list", "ui", "dropdown"),
    "do_not_show_images": OptionInfo(False, "Do not show any images in gallery", "ui"),
    "js_modal_lightbox": OptionInfo(True, "Full page image viewer: enable", "ui"),
    "keyedit_precision_attention": _slider(0.1, "Precision for (attention:1.1) when editing the prompt with "
                                           "Ctrl+up/down", "ui", 0.01, 0.2, 0.001),
    "keyedit_delimiters": OptionInfo(r".,\/!?%^*;:{}=`~() ", "Word delimiters when editing the prompt", "ui",
                                     "textbox"),
}

_PREVIEWS: dict[str, OptionInfo] = {
    "live_previews_enable": OptionInfo(True, "Show live previews of the created image", "live-previews"),
    "show_progressbar": OptionInfo(True, "Show progressbar", "live-previews"),
    "show_progress_every_n_steps": _slider(10, "Live preview display period (in sampling steps; -1 = only after "
                                           "completion of a batch)", "live-previews", -1, 32, 1),
    "show_progress_type": _radio("Approx cheap", "Live preview method", "live-previews",
                                 ("Full", "Approx cheap")),
    "live_preview_content": _radio("Prompt", "Live preview subject", "live-previews",
                                   ("Combined", "Prompt", "Negative prompt")),
    "live_preview_refresh_period": OptionInfo(1000, "Progressbar and preview update period (ms)", "live-previews",
                                              "number"),
}

_SAMPLER_PARAMS: dict[str, OptionInfo] = {
    "eta_ddim": _slider(0.0, "Eta for DDIM", "sampler-params", 0.0, 1.0, 0.01, infotext="Eta DDIM"),
    "eta_ancestral": _slider(1.0, "Eta for k-diffusion samplers", "sampler-params", 0.0, 1.0, 0.01, infotext="Eta"),
    "ddim_discretize": _radio("uniform", "img2img DDIM discretize", "sampler-params", ("uniform", "quad")),
    "max_sampling_steps": OptionInfo(1000, "Most sampling steps a request may ask for (the UI slider stops at 150; "
                                           "the API accepts up to this)", "sampler-params", "number",
                                     minimum=150, maximum=10000, step=1),
    "s_churn": _slider(0.0, "sigma churn", "sampler-params", 0.0, 100.0, 0.01, infotext="Sigma churn"),
    "s_tmin": _slider(0.0, "sigma tmin", "sampler-params", 0.0, 10.0, 0.01, infotext="Sigma tmin"),
    "s_tmax": _slider(0.0, "sigma tmax", "sampler-params", 0.0, 999.0, 0.01, infotext="Sigma tmax"),
    "s_noise": _slider(1.0, "sigma noise", "sampler-params", 0.0, 1.1, 0.001, infotext="Sigma noise"),
    "sigma_min": OptionInfo(0.0, "sigma min", "sampler-params", "number", infotext="Schedule min sigma"),
    "sigma_max": OptionInfo(0.0, "sigma max", "sampler-params", "number", infotext="Schedule max sigma"),
    "rho": OptionInfo(0.0, "rho", "sampler-params", "number", infotext="Schedule rho"),
    "eta_noise_seed_delta": OptionInfo(0, "Eta noise seed delta", "sampler-params", "number", infotext="ENSD"),
    "always_discard_next_to_last_sigma": OptionInfo(False, "Always discard next-to-last sigma", "sampler-params",
                                                    infotext="Discard penultimate sigma"),
    "sgm_noise_multiplier": OptionInfo(False, "SGM noise multiplier", "sampler-params",
                                       infotext="SGM noise multiplier"),
    "uni_pc_variant": _radio("bh1", "UniPC variant", "sampler-params", ("bh1", "bh2", "vary_coeff")),
    "uni_pc_skip_type": _radio("time_uniform", "UniPC skip type", "sampler-params",
                               ("time_uniform", "time_quadratic", "logSNR")),
    "uni_pc_order": _slider(3, "UniPC order", "sampler-params", 1, 50, 1),
    "uni_pc_lower_order_final": OptionInfo(True, "UniPC lower order final", "sampler-params"),
    "s_min_uncond": _slider(0.0, "Negative Guidance minimum sigma", "sampler-params", 0.0, 15.0, 0.01,
                            infotext="NGMS"),
    "beta_dist_alpha": _slider(0.6, "Beta scheduler - alpha", "sampler-params", 0.01, 1.0, 0.01,
                               infotext="Beta schedule alpha"),
    "beta_dist_beta": _slider(0.6, "Beta scheduler - beta", "sampler-params", 0.01, 1.0, 0.01,
                              infotext="Beta schedule beta"),
    "pad_cond_uncond": OptionInfo(False, "Pad prompt/negative prompt to be same length", "sampler-params",
                                  infotext="Pad conds"),
    "batch_cond_uncond": OptionInfo(True, "Batch cond/uncond", "sampler-params"),
}

_SYSTEM: dict[str, OptionInfo] = {
    "multiple_tqdm": OptionInfo(True, "Add a second progress bar to the console", "system"),
    "sd_checkpoints_limit": _slider(1, "Maximum number of checkpoints loaded at the same time", "system", 1, 10, 1),
    "sd_checkpoint_cache": _slider(0, "Checkpoints to cache in RAM", "system", 0, 10, 1),
    "disable_mmap_load_safetensors": OptionInfo(False, "Disable memmapping for loading .safetensors files.", "system"),
    "prompt_max_chars": OptionInfo(65536, "Longest prompt or negative prompt accepted (characters)", "system",
                                   "number", minimum=1000, maximum=10_000_000),
    "input_image_max_pixels": OptionInfo(8192 * 8192, "Largest input image accepted (width × height in pixels; "
                                         "checked before decoding)", "system", "number", minimum=64 * 64,
                                         maximum=2**31),
}

_CONTROLNET: dict[str, OptionInfo] = {
    "control_net_unit_count": _slider(3, "Multi-ControlNet: ControlNet unit number", "control_net", 1, 10, 1,
                                      needs_restart=True),
    "control_net_no_detectmap": OptionInfo(False, "Do not append detectmap to output", "control_net"),
    "control_net_detectmap_autosaving": OptionInfo(False, "Allow detectmap auto saving", "control_net"),
    "controlnet_ignore_noninpaint_mask": OptionInfo(
        False, "Ignore mask on ControlNet input image if control type is not inpaint", "control_net"),
    "control_net_inpaint_blur_sigma": _slider(7, "ControlNet inpainting Gaussian blur sigma", "control_net",
                                              0, 100, 1),
}


_EXTENSIONS: dict[str, OptionInfo] = {
    # Written by the Extensions tab ("Apply and restart UI"); A1111's keys and values.
    "disabled_extensions": OptionInfo([], "Disabled extensions", "hidden"),
    "disable_all_extensions": _radio("none", "Disable all extensions (preserves the list of disabled extensions)",
                                     "hidden", ("none", "extra", "all")),
}


_EXTRA_NETWORKS: dict[str, OptionInfo] = {
    "lora_apply_mode": _radio("merge", "How LoRA networks are applied (merge: add to the weights for the job, "
                              "fastest; hooks: extra computation per layer, no weight copies)", "extra-networks",
                              ("merge", "hooks")),
    "extra_networks_default_multiplier": _slider(1.0, "Default multiplier for extra networks", "extra-networks",
                                                 0.0, 2.0, 0.01),
    "extra_networks_card_order_field": _radio("Path", "Default order field for Extra Networks cards",
                                              "extra-networks", ("Path", "Name", "Date Created", "Date Modified")),
    "textual_inversion_add_hashes_to_infotext": OptionInfo(True, "Add Textual Inversion hashes to infotext",
                                                           "extra-networks"),
    "sd_vae_overrides_per_model_preferences": OptionInfo(True, "Selected VAE overrides per-model preferences",
                                                         "sd"),
}


_INTERROGATE: dict[str, OptionInfo] = {
    "interrogate_clip_model_name": OptionInfo("", "CLIP model for Interrogate (arch/pretrained, from models/CLIP; "
                                              "empty: the first installed)", "interrogate", "textbox"),
    "interrogate_caption_model_name": OptionInfo("", "Caption model for Interrogate (folder in models/BLIP; "
                                                 "empty: the first installed)", "interrogate", "textbox"),
    "interrogate_return_ranks": OptionInfo(False, "Include ranks of model tags matches in results (DeepBooru: "
                                           "each tag as (tag:score))", "interrogate"),
    "interrogate_deepbooru_score_threshold": _slider(0.5, "deepbooru: score threshold", "interrogate",
                                                     0.0, 1.0, 0.01),
    "deepbooru_sort_alpha": OptionInfo(True, "deepbooru: sort tags alphabetically (if not: by score)",
                                       "interrogate"),
    "deepbooru_use_spaces": OptionInfo(True, "deepbooru: use spaces in tags (if not: underscores)", "interrogate"),
    "deepbooru_escape": OptionInfo(True, "deepbooru: escape (\\) brackets (so they are literal brackets, not "
                                   "emphasis)", "interrogate"),
    "deepbooru_filter_tags": OptionInfo("", "deepbooru: filter out those tags (separate by comma)", "interrogate",
                                        "textbox"),
}


def default_schema() -> dict[str, OptionInfo]:
    """All built-in options; a fresh dict each call so extensions can add to their copy."""
    schema: dict[str, OptionInfo] = {}
    from modules.settings.main_ui_options import MAIN_UI_OPTIONS
    from modules.settings.upscaling_options import UPSCALING_OPTIONS

    for part in (_SAVING, _PATHS, _SD, _INFOTEXT_UI, _PREVIEWS, _SAMPLER_PARAMS, _SYSTEM, UPSCALING_OPTIONS,
                 _EXTRA_NETWORKS, _INTERROGATE, _CONTROLNET, _EXTENSIONS, MAIN_UI_OPTIONS):
        schema.update(part)
    return schema


def infotext_to_option_keys(schema: dict[str, OptionInfo]) -> dict[str, str]:
    """Map infotext keys ("Clip skip") to option keys ("CLIP_stop_at_last_layers") for pasting."""
    return {o.infotext: k for k, o in schema.items() if o.infotext}
