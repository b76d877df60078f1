"""Segmentation preprocessors: a class map painted in the ADE20K (or COCO) colours, offline.

The extension's OneFormer/UniFormer networks come as detectron2/mmseg checkpoints that need those
frameworks; controlnet-aux 0.0.10 has neither. transformers has OneFormer (the same ADE20K and COCO
models, converted by their authors), UperNet and SegFormer, so the networks are read from
transformers-format folders (`config.json`, the weights, the processor files) in the annotator
folder. Nothing reaches a hub: every `from_pretrained` is local-only, OneFormer's class-info file
(which its image processor would fetch from a dataset repository) is switched off, since it only
serves training labels, and a `pytorch_model.bin` is read through the restricted unpickler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modules.controlnet.preprocessors.annotators import AnnotatorLoadError, AnnotatorMissingError, AnnotatorStore
from modules.controlnet.preprocessors.seg_palettes import ade20k_palette, coco_panoptic_palette, colorize
from modules.controlnet.preprocessors.spec import Preprocessor, ProcessorCall
from modules.models.safe_unpickle import load_pickled_checkpoint

_TAGS = ("Segmentation",)


@dataclass(frozen=True)
class SegNetwork:
    """One segmentation network: where its folder may be, what it is, and the colours it paints with."""

    title: str  # for messages: "OneFormer (ADE20K)"
    kind: str  # the transformers `model_type` the folder must hold
    key: str  # the subfolder the folder may sit in
    folders: tuple[str, ...]  # accepted folder names (Hugging Face repository names), the first is the usual one
    repo_owner: str  # where the usual folder is published
    palette: Callable[[], np.ndarray]
    extension_file: str | None = None  # the extension's checkpoint for the same network (not read here)

    @property
    def usual_repo(self) -> str:
        return f"{self.repo_owner}/{self.folders[0]}"


ONEFORMER_ADE20K = SegNetwork("OneFormer (ADE20K)", "oneformer", "oneformer",
                              ("oneformer_ade20k_swin_large", "oneformer_ade20k_swin_tiny"), "shi-labs",
                              ade20k_palette, "250_16_swin_l_oneformer_ade20k_160k.pth")
ONEFORMER_COCO = SegNetwork("OneFormer (COCO)", "oneformer", "oneformer", ("oneformer_coco_swin_large",),
                            "shi-labs", coco_panoptic_palette, "150_16_swin_l_oneformer_coco_100ep.pth")
UPERNET_ADE20K = SegNetwork("UperNet (ADE20K)", "upernet", "upernet",
                            tuple(f"upernet-{b}" for b in ("convnext-small", "convnext-tiny", "convnext-base",
                                                            "convnext-large", "convnext-xlarge", "swin-tiny",
                                                            "swin-small", "swin-base", "swin-large")),
                            "openmmlab", ade20k_palette)
SEGFORMER_ADE20K = SegNetwork("SegFormer (ADE20K)", "segformer", "segformer",
                              (*(f"segformer-b{i}-finetuned-ade-512-512" for i in range(5)),
                               "segformer-b5-finetuned-ade-640-640"), "nvidia", ade20k_palette)

_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


@dataclass(frozen=True)
class SegModel:
    """A loaded network with its input processor."""

    network: SegNetwork
    model: Any
    processor: Any

    def labels(self, image: np.ndarray) -> np.ndarray:
        """The (H, W) class of every pixel of an RGB uint8 image."""
        import torch

        h, w = image.shape[:2]
        extra = {"task_inputs": ["semantic"]} if self.network.kind == "oneformer" else {}
        inputs = self.processor(images=[image], return_tensors="pt", **extra)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        found = self.processor.post_process_semantic_segmentation(outputs, target_sizes=[(h, w)])[0]
        return found.cpu().numpy()


def locate_folder(root: Path, network: SegNetwork) -> Path:
    """The network's transformers folder (holding `config.json`), directly in `root` or in its subfolder."""
    for name in network.folders:
        for candidate in (root / name, root / network.key / name):
            if (candidate / "config.json").is_file():
                return candidate
    raise AnnotatorMissingError(_missing_message(root, network))


def _missing_message(root: Path, network: SegNetwork) -> str:
    others = f" (or another of: {', '.join(network.folders[1:])})" if len(network.folders) > 1 else ""
    text = (f"The preprocessor needs the {network.title} network as the transformers folder "
            f"'{network.folders[0]}'{others}, which is not in '{root}' (nor in '{root / network.key}'). "
            f"Put the files of the Hugging Face repository {network.usual_repo} there (config.json, "
            "model.safetensors, preprocessor_config.json"
            + (", and its tokenizer files" if network.kind == "oneformer" else "")
            + "); preprocessors never download anything.")
    if network.extension_file:
        found = [p for p in (root / network.extension_file, root / network.key / network.extension_file)
                 if p.is_file()]
        where = f" (found at '{found[0]}')" if found else ""
        text += (f" The extension's detectron2 file '{network.extension_file}'{where} is not read: "
                 "only the transformers folder is.")
    return text


def load_seg_model(folder: Path, network: SegNetwork) -> SegModel:
    """Build the network and its processor from the folder, checking it is the right kind."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as err:
        raise AnnotatorLoadError(f"The folder '{folder}' has no readable transformers config.json ({err})") from err
    classes = len(network.palette())
    if config.model_type != network.kind or config.num_labels != classes:
        raise AnnotatorLoadError(
            f"The folder '{folder}' holds a {config.model_type} network with {config.num_labels} classes; "
            f"the preprocessor needs {network.title} with {classes} classes (e.g. {network.usual_repo})")
    try:
        model = _load_weights(folder, network, config).eval()
        return SegModel(network, model, _load_processor(folder, network, config))
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise AnnotatorLoadError(f"The folder '{folder}' could not be loaded as {network.title} ({err})") from err


def _model_class(kind: str) -> Any:
    import transformers

    return {"oneformer": transformers.OneFormerForUniversalSegmentation,
            "upernet": transformers.UperNetForSemanticSegmentation,
            "segformer": transformers.SegformerForSemanticSegmentation}[kind]


def _load_weights(folder: Path, network: SegNetwork, config: Any) -> Any:
    cls = _model_class(network.kind)
    present = [name for name in _WEIGHTS if (folder / name).is_file()]
    if not present:
        raise AnnotatorLoadError(f"The folder '{folder}' has no weights: it needs one of {', '.join(_WEIGHTS)}")
    if present[0] != "pytorch_model.bin":
        return cls.from_pretrained(folder, config=config, local_files_only=True, use_safetensors=True)
    state = load_pickled_checkpoint(folder / "pytorch_model.bin")
    return cls.from_pretrained(None, config=config, state_dict=state, local_files_only=True)


def _load_processor(folder: Path, network: SegNetwork, config: Any) -> Any:
    from transformers import AutoImageProcessor

    if network.kind != "oneformer":
        return AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    from transformers import AutoTokenizer, OneFormerImageProcessor, OneFormerProcessor

    # class_info_file names a JSON of a hub dataset repository that only labels training targets.
    images = OneFormerImageProcessor.from_pretrained(folder, local_files_only=True, class_info_file=None,
                                                     repo_path=str(folder))
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_folder(folder), local_files_only=True)
    return OneFormerProcessor(image_processor=images, tokenizer=tokenizer, task_seq_length=config.task_seq_len,
                              max_seq_length=config.text_encoder_context_length)


def _tokenizer_folder(folder: Path) -> Path:
    """OneFormer's task prompt uses CLIP's tokenizer: the folder's own files, else the app's copy of it."""
    if any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        return folder
    from modules.text.clip_tokenizer import CLIP_TOKENIZER_DIR

    return CLIP_TOKENIZER_DIR


def _runner(store: AnnotatorStore, network: SegNetwork) -> Callable[[np.ndarray, ProcessorCall], np.ndarray]:
    def run(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
        folder = locate_folder(store.folder, network)
        model = store.cached(f"seg:{network.kind}:{folder}", lambda: load_seg_model(folder, network))
        return colorize(model.labels(image), network.palette())
    return run


# internal name, alias (the extension's name), network
_SPECS: tuple[tuple[str, str | None, SegNetwork], ...] = (
    ("oneformer_ade20k", "seg_ofade20k", ONEFORMER_ADE20K),
    ("oneformer_coco", "seg_ofcoco", ONEFORMER_COCO),
    ("seg_upernet_ade20k", None, UPERNET_ADE20K),
    ("seg_segformer_ade20k", None, SEGFORMER_ADE20K),
)


def segmentation_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    """The segmentation preprocessors, bound to one annotator folder."""
    return [Preprocessor(name, _runner(store, network), _TAGS, alias=alias,
                         annotator_files=(f"{network.key}/{network.folders[0]}",))
            for name, alias, network in _SPECS]
