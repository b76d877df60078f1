"""The extension's preprocessors that are not built in, and why (so a request for one gets a reason
rather than only "unknown"). They are not in the module list."""

from __future__ import annotations

_UNIFORMER = ("UniFormer is not built in (its mmseg network is in neither controlnet-aux 0.0.10 nor "
              "transformers); use 'seg_upernet_ade20k' (UperNet, ADE20K colours) or 'oneformer_ade20k' "
              "('seg_ofade20k') instead, or send a ready segmentation map with the preprocessor 'none'")
_ANIME_FACE = ("anime face segmentation is not built in; send a ready segmentation map with the "
               "preprocessor 'none'")
_NOT_BUILT_IN = "it is not built in (docs/CONTROLNET.md lists the preprocessors that are)"
_STYLE_ADAPTER = ("the T2I style adapter (CLIP-vision tokens) is not supported; the map-based T2I-Adapters "
                  "are, with t2ia_color_grid, t2ia_sketch_pidi or any map preprocessor")

# name or alias (lower case) -> reason
UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(("seg_ufade20k", "uniformer", "segmentation"), _UNIFORMER),
    **dict.fromkeys(("seg_anime_face", "anime_face_segment"), _ANIME_FACE),
    **dict.fromkeys(("depth_anything", "depth_anything_v2", "depth_hand_refiner", "dw_openpose_full",
                     "animal_openpose", "densepose", "densepose_parula", "mediapipe_face", "normal_dsine",
                     "softedge_teed", "te_hed", "lineart_anime_denoise", "mobile_sam",
                     "inpaint_only+lama", "reference_only",
                     "reference_adain", "reference_adain+attn", "revision_clipvision", "revision_ignore_prompt",
                     "ip-adapter_clip_h", "ip-adapter_clip_g", "ip-adapter_face_id", "ip-adapter_face_id_plus",
                     "instant_id_face_embedding", "instant_id_face_keypoints"), _NOT_BUILT_IN),
    **dict.fromkeys(("t2ia_style_clipvision", "clip_vision"), _STYLE_ADAPTER),
}


def unsupported_reason(name: str) -> str | None:
    """Why a preprocessor the extension has is missing here (None: not one of those)."""
    reason = UNSUPPORTED.get(str(name).strip().lower())
    return f"Preprocessor '{name}' is not available: {reason}" if reason else None
