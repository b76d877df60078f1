"""Depth and normal-map preprocessors (MiDaS, ZoeDepth, LeReS/LeReS++, NormalBae), offline.

controlnet-aux's `from_pretrained` would download, `torch.load` a pickle, or reach model code through
`torch.hub`; here each network is built from the package's classes (random init, no pretrained
download), the weights come from our annotator folder through the restricted unpickler, and the
package's detectors only run the forward pass and its post-processing. File names and folders are
the extension's (`annotator/downloads/<key>/<file>`), so its downloads can be copied over as they are.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from modules.controlnet.preprocessors.annotators import Annotator, AnnotatorStore
from modules.controlnet.preprocessors.image_ops import hwc3
from modules.controlnet.preprocessors.spec import Preprocessor, ProcessorCall, Slider
from modules.controlnet.preprocessors.vendored import import_vendored, package_folder


def _unwrap(state: Any, *keys: str) -> dict[str, Any]:
    """The state dict inside a checkpoint dict (`{"model": ...}`, `{"depth_model": ...}`), without
    the `module.` prefix DataParallel training leaves."""
    for key in keys:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _build_midas(state: Any) -> Any:
    """DPT-Hybrid (ViT-B/16 on a ResNet-50 stem), the network of `dpt_hybrid-midas-501f0c75.pt`."""
    from controlnet_aux.midas import MidasDetector
    from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel

    net = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True)
    net.load_state_dict(_unwrap(state, "model") if "optimizer" in state else _unwrap(state))
    return MidasDetector(net.float().eval())


def _zoe_network() -> Any:
    """ZoeD_M12_N: ZoeDepth (config "zoedepth", infer) on a MiDaS DPT-BEiT-L/384 core."""
    from controlnet_aux.zoe.zoedepth.models.base_models.midas import MidasCore
    from controlnet_aux.zoe.zoedepth.models.zoedepth.zoedepth_v1 import ZoeDepth
    from controlnet_aux.zoe.zoedepth.utils.config import get_config

    repo = package_folder("controlnet_aux.zoe.zoedepth.models.base_models", "midas_repo")
    dpt = import_vendored(repo, "midas.dpt_depth").DPTDepthModel(path=None, backbone="beitl16_384",
                                                                   non_negative=True)
    conf = dict(get_config("zoedepth", "infer"))
    core = MidasCore(dpt, trainable=False, fetch_features=True, freeze_bn=True, img_size=conf["img_size"],
                     keep_aspect_ratio=conf.get("force_keep_ar", True))
    core.set_output_channels(conf["midas_model_type"])
    skip = {"midas_model_type", "pretrained_resource", "use_pretrained_midas", "train_midas", "img_size"}
    return ZoeDepth(core, **{k: v for k, v in conf.items() if k not in skip})


def _load_ignoring_position_index(net: Any, state: dict[str, Any]) -> None:
    """Strict load except for BEiT's `relative_position_index` buffers: they are computed, and newer
    timm no longer stores them (controlnet-aux's ZoeDepth drops them the same way)."""
    import torch

    keep = {k: v for k, v in state.items() if "relative_position_index" not in k}
    missing, unexpected = torch.nn.Module.load_state_dict(net, keep, strict=False)
    missing = [k for k in missing if "relative_position_index" not in k]
    if missing or unexpected:
        raise RuntimeError(f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")


def _build_zoe(state: Any) -> Any:
    from controlnet_aux.zoe import ZoeDetector

    net = _zoe_network()
    _load_ignoring_position_index(net, _unwrap(state, "model"))
    return ZoeDetector(net.float().eval())


def _leres_network(state: Any) -> Any:
    from controlnet_aux.leres.leres.multi_depth_model_woauxi import RelDepthModel

    net = RelDepthModel(backbone="resnext101")
    net.load_state_dict(_unwrap(state, "depth_model"))
    return net.float().eval()


def _pix2pix(state: Any) -> Any:
    """The LeReS++ merge network (`latest_net_G.pth`), built without the package's command-line
    option parser (it would read the server's own argv)."""
    from controlnet_aux.leres.pix2pix.models.pix2pix4depth_model import Pix2Pix4DepthModel

    opt = types.SimpleNamespace(gpu_ids=[], isTrain=False, checkpoints_dir="", name="",
                                preprocess="scale_width", input_nc=2, output_nc=1)
    model = Pix2Pix4DepthModel(opt)
    model.netG.load_state_dict(_unwrap(state))
    model.netG.float().eval()
    return model


def _build_leres(states: Any) -> Any:
    from controlnet_aux.leres import LeresDetector

    if isinstance(states, list):
        return LeresDetector(_leres_network(states[0]), _pix2pix(states[1]))
    return LeresDetector(_leres_network(states), None)


def _normal_bae_network() -> Any:
    """NormalBae's NNET; its encoder (EfficientNet-B5 AP from the gen-efficientnet copy inside
    controlnet-aux) is built here instead of through torch.hub."""
    import torch.nn as nn
    from controlnet_aux.normalbae.nets.NNET import NNET
    from controlnet_aux.normalbae.nets.submodules.decoder import Decoder
    from controlnet_aux.normalbae.nets.submodules.encoder import Encoder

    geffnet = import_vendored(package_folder("controlnet_aux.normalbae.nets.submodules", "efficientnet_repo"),
                              "geffnet")
    base = geffnet.tf_efficientnet_b5_ap(pretrained=False)
    base.global_pool = nn.Identity()
    base.classifier = nn.Identity()
    encoder = Encoder.__new__(Encoder)
    nn.Module.__init__(encoder)
    encoder.original_model = base
    args = types.SimpleNamespace(mode="client", architecture="BN", pretrained="scannet",
                                 sampling_ratio=0.4, importance_ratio=0.7)
    net = NNET.__new__(NNET)
    nn.Module.__init__(net)
    net.encoder = encoder
    net.decoder = Decoder(args)
    return net


def _build_normal_bae(state: Any) -> Any:
    from controlnet_aux.normalbae import NormalBaeDetector

    net = _normal_bae_network()
    net.load_state_dict(_unwrap(state, "model"))
    return NormalBaeDetector(net.float().eval())


MIDAS = Annotator("midas", "dpt_hybrid-midas-501f0c75.pt", _build_midas)
ZOE = Annotator("zoedepth", "ZoeD_M12_N.pt", _build_zoe)
LERES = Annotator("leres", "res101.pth", _build_leres)
LERES_BOOST = Annotator("leres", "res101.pth", _build_leres, ("latest_net_G.pth",))
NORMAL_BAE = Annotator("normal_bae", "scannet.pt", _build_normal_bae)


def _pad64(image: np.ndarray) -> np.ndarray:
    """Edge-pad to multiples of 64 (the extension pads, then crops, so no network sees a stretched
    image; controlnet-aux's own resize would round each side to 64 instead)."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, -h % 64), (0, -w % 64), (0, 0)), mode="edge")


def _padded_runner(annotator: Annotator, options: Callable[[ProcessorCall, int], dict[str, Any]],
                   pick: int | None = None) -> Callable[[AnnotatorStore], Callable[..., np.ndarray]]:
    """Run a controlnet-aux detector on the padded image at its own size and crop the map back, so
    the map has exactly the size of the (resolution-scaled) input."""
    def bind(store: AnnotatorStore) -> Callable[[np.ndarray, ProcessorCall], np.ndarray]:
        def run(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
            detector = store.detector(annotator)
            h, w = image.shape[:2]
            padded = _pad64(image)
            side = min(padded.shape[:2])
            out = detector(padded, detect_resolution=side, image_resolution=side, output_type="np",
                           **options(call, max(padded.shape[:2])))
            if pick is not None:
                out = out[pick]
            return hwc3(np.asarray(out))[:h, :w]
        return run
    return bind


_LERES_FIELD = 448  # LeReS's receptive field, the smallest size LeReS++ works at
_REMOVE_NEAR = Slider("Remove Near %", 0, 0, 100, 0.1)
_REMOVE_BACKGROUND = Slider("Remove Background %", 0, 0, 100, 0.1)
_NORMAL_BACKGROUND = Slider("Normal Background Threshold", 0.4, 0.0, 1.0, 0.01)


def depth_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    """Depth and normal maps; names, aliases, sliders and tags as the extension has them."""
    def leres(call: ProcessorCall, side: int, boost: bool) -> dict[str, Any]:
        # LeReS++ picks its working sizes between the 448 px receptive field and 3x the image; an
        # image under 150 px leaves no size to pick (controlnet-aux then fails), and boosting
        # such a small map adds nothing: it gets plain LeReS.
        return {"thr_a": call.threshold_a, "thr_b": call.threshold_b, "boost": boost and 3 * side > _LERES_FIELD}

    def make(name: str, alias: str | None, tag: str, annotator: Annotator, run: Any,
             **sliders: Slider) -> Preprocessor:
        return Preprocessor(name, run(store), (tag,), alias=alias, annotator_files=annotator.files, **sliders)

    return [
        make("depth", "depth_midas", "Depth", MIDAS, _padded_runner(MIDAS, lambda c, side: {})),
        make("depth_leres", None, "Depth", LERES, _padded_runner(LERES, lambda c, side: leres(c, side, False)),
             threshold_a=_REMOVE_NEAR, threshold_b=_REMOVE_BACKGROUND),
        make("depth_leres++", None, "Depth", LERES_BOOST,
             _padded_runner(LERES_BOOST, lambda c, side: leres(c, side, True)),
             threshold_a=_REMOVE_NEAR, threshold_b=_REMOVE_BACKGROUND),
        make("depth_zoe", None, "Depth", ZOE, _padded_runner(ZOE, lambda c, side: {})),
        make("normal_map", "normal_midas", "NormalMap", MIDAS,
             _padded_runner(MIDAS, lambda c, side: {"depth_and_normal": True, "bg_th": c.threshold_a}, pick=1),
             threshold_a=_NORMAL_BACKGROUND),
        make("normal_bae", None, "NormalMap", NORMAL_BAE, _padded_runner(NORMAL_BAE, lambda c, side: {})),
    ]
