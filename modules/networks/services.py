"""The extra-network parts of one running app, built from its folders (no scanning here).

The Runtime owns one `NetworkServices`; the engine receives its registry (LoRA, hypernetworks)
and its embedding lookup per job, the API and the card browser read the catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modules.hashing import HashCache
from modules.networks.catalog import NetworkCatalog
from modules.networks.embeddings import EmbeddingDatabase
from modules.networks.hypernetwork import HYPERNETWORK_EXTENSIONS, HypernetworkHandler
from modules.networks.lora_handler import LORA_EXTENSIONS, LoraHandler
from modules.networks.vae_choice import VaeSelector
from modules.text.extra_networks import ExtraNetworkRegistry


@dataclass
class NetworkServices:
    loras: NetworkCatalog
    lora_handler: LoraHandler
    registry: ExtraNetworkRegistry
    embeddings: EmbeddingDatabase
    vae: VaeSelector
    hypernetworks: NetworkCatalog
    checkpoint_cards: NetworkCatalog  # the Checkpoints tab of the card browser (the registry stays the truth)

    def refresh_loras(self) -> None:
        self.loras.refresh()


def build_network_services(lora_dirs: list[Path], hash_cache: HashCache | None,
                           embedding_dirs: list[Path] | None = None, vae_dirs: list[Path] | None = None,
                           vae_path: Path | None = None, hypernetwork_dirs: list[Path] | None = None,
                           checkpoint_dirs: list[Path] | None = None) -> NetworkServices:
    loras = NetworkCatalog(lora_dirs, LORA_EXTENSIONS)
    handler = LoraHandler(loras, hash_cache)
    registry = ExtraNetworkRegistry()
    registry.register("lora", handler, aliases=("lyco",))
    hypernetworks = NetworkCatalog(list(hypernetwork_dirs or []), HYPERNETWORK_EXTENSIONS)
    registry.register("hypernet", HypernetworkHandler(hypernetworks))
    return NetworkServices(loras=loras, lora_handler=handler, registry=registry,
                           embeddings=EmbeddingDatabase(list(embedding_dirs or []), hash_cache),
                           vae=VaeSelector(list(vae_dirs or []), hash_cache, vae_path), hypernetworks=hypernetworks,
                           checkpoint_cards=NetworkCatalog(list(checkpoint_dirs or []), (".safetensors", ".ckpt"),
                                                           (".vae.safetensors", ".vae.ckpt")))
