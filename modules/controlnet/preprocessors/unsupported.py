"""The extension's preprocessors that are not built in, and why (so a request for one gets a reason
rather than only "unknown"). They are not in the module list."""

from __future__ import annotations

_SEGMENTATION = ("the segmentation preprocessors need OneFormer or UniFormer networks, which the "
                 "installed controlnet-aux (0.0.10) does not contain, so they cannot run here; send a "
                 "ready segmentation map with the preprocessor 'none' and a seg ControlNet model")
_NOT_BUILT_IN = "it is not built in (docs/CONTROLNET.md lists the preprocessors that are)"

# name or alias (lower case) -> reason
UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(("seg_ofade20k", "oneformer_ade20k", "seg_ofcoco", "oneformer_coco", "seg_ufade20k",
                     "segmentation", "seg_anime_face", "anime_face_segment"), _SEGMENTATION),
    **dict.fromkeys(("depth_anything", "depth_anything_v2", "depth_hand_refiner", "dw_openpose_full",
                     "animal_openpose", "densepose", "densepose_parula", "mediapipe_face", "normal_dsine",
                     "softedge_teed", "te_hed", "lineart_anime_denoise", "mobile_sam",
                     "inpaint_only+lama", "reference_only",
                     "reference_adain", "reference_adain+attn", "revision_clipvision", "revision_ignore_prompt",
                     "ip-adapter_clip_h", "ip-adapter_clip_g", "ip-adapter_face_id", "ip-adapter_face_id_plus",
                     "instant_id_face_embedding", "instant_id_face_keypoints"), _NOT_BUILT_IN),
}


def unsupported_reason(name: str) -> str | None:
    """Why a preprocessor the extension has is missing here (None: not one of those)."""
    reason = UNSUPPORTED.get(str(name).strip().lower())
    return f"Preprocessor '{name}' is not available: {reason}" if reason else None
