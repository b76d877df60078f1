"""Settings of upscaling, hires fix and tiled VAE (A1111's keys where A1111 has them)."""

from __future__ import annotations

from modules.settings.schema import OptionInfo


def _slider(default: float, label: str, section: str, lo: float, hi: float, step: float) -> OptionInfo:
    return OptionInfo(default, label, section, "slider", lo, hi, step)


UPSCALING_OPTIONS: dict[str, OptionInfo] = {
    "ESRGAN_tile": _slider(192, "Tile size for ESRGAN upscalers. 0 = no tiling.", "upscaling", 0, 512, 16),
    "ESRGAN_tile_overlap": _slider(8, "Tile overlap for ESRGAN upscalers. Low values = visible seam.",
                                   "upscaling", 0, 48, 1),
    "DAT_tile": _slider(192, "Tile size for DAT upscalers. 0 = no tiling.", "upscaling", 0, 512, 16),
    "DAT_tile_overlap": _slider(8, "Tile overlap for DAT upscalers. Low values = visible seam.",
                                "upscaling", 0, 48, 1),
    "SWIN_tile": _slider(192, "Tile size for SwinIR upscalers. 0 = no tiling.", "upscaling", 0, 512, 16),
    "SWIN_tile_overlap": _slider(8, "Tile overlap for SwinIR upscalers. Low values = visible seam.",
                                 "upscaling", 0, 48, 1),
    "save_images_before_highres_fix": OptionInfo(False, "Save a copy of image before applying highres fix.",
                                                 "saving-images"),
    "hires_fix_show_sampler": OptionInfo(False, "Hires fix: show hires checkpoint and sampler selection", "ui"),
    "hires_fix_show_prompts": OptionInfo(False, "Hires fix: show hires prompt and negative prompt", "ui"),
    "face_restoration": OptionInfo(False, "Restore faces", "face-restoration", infotext="Face restoration"),
    "face_restoration_model": OptionInfo("CodeFormer", "Face restoration model", "face-restoration", "radio",
                                         choices=("CodeFormer", "GFPGAN")),
    "code_former_weight": _slider(0.5, "CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                                  "face-restoration", 0, 1, 0.01),
    "face_restoration_unload": OptionInfo(False, "Move face restoration model from VRAM into RAM after processing",
                                          "face-restoration"),
    "save_images_before_face_restoration": OptionInfo(False, "Save a copy of image before doing face restoration.",
                                                      "saving-images"),
    "postprocessing_operation_order": OptionInfo([], "Postprocessing operation order (Extras: the operations "
                                                 "named here run first, in this order)", "upscaling", "dropdown",
                                                 choices=("Upscale", "GFPGAN", "CodeFormer")),
    "tiled_vae": OptionInfo("Automatic", "Tiled VAE: Automatic decodes/encodes large images (and retries after "
                            "running out of memory) in tiles; Always and Never force it", "vae", "radio",
                            choices=("Automatic", "Always", "Never")),
    "tiled_vae_tile_size": _slider(512, "Tiled VAE: tile size in pixels", "vae", 128, 2048, 64),
    "tiled_vae_overlap": _slider(64, "Tiled VAE: overlap between tiles in pixels", "vae", 0, 256, 8),
    "tiled_vae_min_pixels": _slider(1048576, "Tiled VAE: in Automatic, images with more pixels than this use tiles",
                                    "vae", 65536, 16777216, 65536),
}
