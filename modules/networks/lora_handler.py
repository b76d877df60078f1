"""`<lora:name:weight>`, `<lora:name:te:unet>` and `<lyco:...>`: resolve, read, hash, patch.

Syntax as A1111: the first number is the text-encoder weight and also the UNet weight unless a
second one is given; `te=`, `unet=` name them explicitly. A missing, broken or wrong-family LoRA
is a warning naming it (shown with the result), never a silent no-op and never a failed job.
`Lora hashes` holds the kohya "addnet" hash (sha256 of the tensor data after the header) of each
applied file, 12 hex digits, under the name used in the prompt.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.hashing import HashCache, addnet_hash_safetensors, sha256_file
from modules.models.safe_unpickle import UnsafeCheckpointError
from modules.models.state_dict import CheckpointLoadError
from modules.networks.catalog import NetworkCatalog, NetworkFile
from modules.networks.job import NetworkJob
from modules.networks.lora_network import LoraMismatchError, LoraNetwork, add_patches, load_lora
from modules.networks.lora_weights import LoraFormatError
from modules.text.extra_networks import ExtraNetworkParams

log = logging.getLogger(__name__)

LORA_EXTENSIONS = (".safetensors", ".pt", ".ckpt")
HASH_KIND = "lora-addnet"
LOADED_LIMIT = 8


@dataclass(frozen=True)
class LoraRequest:
    name: str
    te: float
    unet: float


def parse_lora_params(params: ExtraNetworkParams) -> LoraRequest:
    """`name[:te[:unet]]` with `te=`/`unet=` overrides; a bad number is a clear error."""
    positional, named = params.positional, params.named
    if not positional or not positional[0].strip():
        raise ValueError("a <lora:...> tag needs a name, e.g. <lora:myStyle:0.8>")

    def number(text: str, what: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"<lora:{positional[0]}:...> has {what} {text!r}, which is not a number") from None

    te = number(named.get("te", positional[1] if len(positional) > 1 else "1"), "the weight")
    unet = number(named.get("unet", positional[2] if len(positional) > 2 else str(te)), "the UNet weight")
    return LoraRequest(positional[0].strip(), te, unet)


def lora_hash(file: NetworkFile, cache: HashCache | None) -> str:
    """The addnet hash for .safetensors files, the full sha256 for others (A1111's rule)."""
    compute = addnet_hash_safetensors if file.path.suffix.lower() == ".safetensors" else sha256_file
    if cache is None:
        return compute(file.path)
    return cache.get_or_compute(HASH_KIND, file.rel, file.path, compute)


class LoraHandler:
    """The `lora`/`lyco` extra-network type; keeps the last few files read in memory."""

    def __init__(self, catalog: NetworkCatalog, hash_cache: HashCache | None = None) -> None:
        self.catalog = catalog
        self.hash_cache = hash_cache
        self._loaded: OrderedDict[tuple[Path, float, int], LoraNetwork] = OrderedDict()

    def network(self, file: NetworkFile) -> LoraNetwork:
        key = (file.path, file.mtime, file.size)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        network = load_lora(file.name, file.path)
        self._loaded[key] = network
        while len(self._loaded) > LOADED_LIMIT:
            self._loaded.popitem(last=False)
        return network

    def activate(self, params_list: list[ExtraNetworkParams], context: Any) -> None:
        job: NetworkJob = context
        hashes: list[str] = []
        missing: list[str] = []
        for params in params_list:
            try:
                request = parse_lora_params(params)
            except ValueError as exc:
                job.warnings.append(str(exc))
                continue
            file = self.catalog.find(request.name)
            if file is None:
                missing.append(request.name)
                continue
            if self._apply(request, file, job):
                hashes.append(f"{request.name}: {lora_hash(file, self.hash_cache)[:12]}")
        if missing:
            job.warnings.append(f"LoRA not found: {', '.join(missing)} (looked in "
                                f"{', '.join(str(r) for r in self.catalog.roots)}; refresh after adding files)")
        if hashes:
            job.extra_params["Lora hashes"] = ", ".join(hashes)

    def _apply(self, request: LoraRequest, file: NetworkFile, job: NetworkJob) -> bool:
        try:
            network = self.network(file)
            report = add_patches(network, job.model, request.te, request.unet, job.patches)
        except (LoraMismatchError, LoraFormatError) as exc:
            job.warnings.append(str(exc))
            return False
        except (CheckpointLoadError, UnsafeCheckpointError, OSError, ValueError) as exc:
            job.warnings.append(f"LoRA '{request.name}' could not be read and was not applied: {exc}")
            return False
        skipped = len(report.unmatched) + len(report.misfit)
        if skipped:
            job.warnings.append(f"LoRA '{request.name}': {skipped} of {skipped + report.matched} layers do not "
                                "fit the loaded model and were skipped")
            log.info("LoRA %s skipped layers: %s", request.name, (report.unmatched + report.misfit)[:20])
        return True

    def deactivate(self, context: Any) -> None:
        """Nothing to undo here: the job's patch scope restores the weights."""
