"""Extra-network types added by extensions: `<name:arg1:arg2>` tags handled by an extension.

Why a job feature: extension types plug in exactly where LoRA and hypernetworks do (docs/SEAMS.md
§1). For each pass the feature hands every registered type its tags (the batch's first prompt, as
the built-in types get them; collected again when a batch names other networks) and a
`NetworkCall` to contribute through: weight deltas and forward wrappers (a patch set undone after
the pass), UNet wrappers, CFG and step hooks, infotext entries and comments. The tags are stripped
from the encoded text like every extra-network tag.

The table lives on the feature object the Runtime registers (one per app, no module globals).
Types written for A1111 (`modules.extra_networks.ExtraNetwork`) run before every batch with the
job's `p` (bound by `process_images`) and that batch's tags, and are deactivated after the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from modules.engine.features import Contribution, FeatureSetup, PassContext
from modules.engine.unet_call import CallNext, UNetCall
from modules.models import patches as seam_patches

log = logging.getLogger(__name__)

FEATURE_NAME = "Extension extra networks"


@dataclass
class NetworkCall:
    """What a handler gets for one pass: where it is, and the collectors it contributes to."""

    type_name: str
    pass_index: int
    model: Any  # the pass's LoadedModel (a refiner pass may use another checkpoint)
    settings: Mapping[str, Any]
    prompt: str  # the job's prompt (after styles, with its tags)
    p: Any = None  # A1111's `p` when the job runs through process_images (A1111-style types)
    infotext: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    unet_wrappers: list[Any] = field(default_factory=list)
    pre_cfg: list[Callable[[Any], None]] = field(default_factory=list)
    post_cfg: list[Callable[[Any], None]] = field(default_factory=list)
    on_step: list[Callable[[Any], None]] = field(default_factory=list)
    weight_deltas: list[seam_patches.WeightDelta] = field(default_factory=list)
    forward_wrappers: list[seam_patches.ForwardWrapper] = field(default_factory=list)

    def add_unet_wrapper(self, fn: Callable[[UNetCall, CallNext], torch.Tensor], name: str | None = None) -> None:
        """`fn(call, call_next) -> noise prediction` around every UNet evaluation of the pass."""
        self.unet_wrappers.append(NamedWrapper(name or f"<{self.type_name}>", fn))

    def add_weight_delta(self, part: str, key: str, delta: torch.Tensor, strength: float = 1.0) -> None:
        """`part` ("unet", "text_encoders", "vae") parameter `key` += strength * delta, for this pass."""
        self.weight_deltas.append(seam_patches.WeightDelta(part, key, delta, strength))

    def wrap_forward(self, part: str, path: str, wrap: Callable[..., Any]) -> None:
        """`wrap(original_forward, *args, **kwargs)` replaces the forward of module `path` of `part`."""
        self.forward_wrappers.append(seam_patches.ForwardWrapper(part, path, wrap))

    def contribution(self) -> Contribution:
        patches = []
        if self.weight_deltas or self.forward_wrappers:
            patches.append(seam_patches.PatchSet(f"<{self.type_name}>", weight_deltas=tuple(self.weight_deltas),
                                                 wrappers=tuple(self.forward_wrappers)))
        return Contribution(patches=patches, unet_wrappers=list(self.unet_wrappers), pre_cfg=list(self.pre_cfg),
                            post_cfg=list(self.post_cfg), on_step=list(self.on_step), infotext=dict(self.infotext),
                            comments=list(self.comments), handled_networks={self.type_name})


@dataclass(frozen=True)
class NamedWrapper:
    name: str
    fn: Callable[[UNetCall, CallNext], torch.Tensor]

    def __call__(self, call: UNetCall, call_next: CallNext) -> torch.Tensor:
        return self.fn(call, call_next)


@dataclass
class NetworkType:
    """One registered type. `activate(params_list, call)`; `deactivate(call)` after the job (optional).

    `per_job`: called for the first pass only (A1111's types); `always`: also called with an empty
    list when the prompt has no tag of the type (A1111 does this so a type can undo its state).
    """

    name: str
    owner: str
    activate: Callable[[list[Any], NetworkCall], None]
    deactivate: Callable[[NetworkCall], None] | None = None
    per_job: bool = False
    always: bool = False
    wants_p: bool = False


class ExtensionNetworks:
    """The job feature holding the extension-registered types (one per Runtime)."""

    name = FEATURE_NAME

    def __init__(self, reserved: Callable[[], list[str]] = list) -> None:
        self.types: dict[str, NetworkType] = {}
        self.pages: dict[str, Any] = {}  # page id -> extension_cards.CardPage
        self.reserved = reserved  # the built-in type names (lora, lyco, hypernet)
        self.p: Any = None
        self.activated: list[tuple[NetworkType, NetworkCall]] = []

    def add(self, network: NetworkType, aliases: tuple[str, ...] = ()) -> None:
        self._check(network, (network.name, *aliases))
        for key in (network.name, *aliases):
            self.types[key] = network

    def add_alias(self, network: NetworkType, alias: str) -> None:
        self._check(network, (alias,))
        self.types[alias] = network

    def _check(self, network: NetworkType, keys: tuple[str, ...]) -> None:
        for key in keys:
            if not key.isidentifier() or key.startswith("_"):
                raise ValueError(f"extra network type name {key!r} must be letters, digits and underscores, as "
                                 "in <name:...> tags")
            if key in self.reserved():
                raise ValueError(f"extra network type <{key}:...> is built in and cannot be replaced")
            if key in self.types:
                raise ValueError(f"extra network type <{key}:...> is already registered by "
                                 f"'{self.types[key].owner}'")

    def add_page(self, page: Any, builtin_pages: tuple[str, ...]) -> None:
        """A card page (extension_cards.CardPage) in the card browser."""
        if page.page_id in builtin_pages or page.page_id in self.pages:
            raise ValueError(f"the card page {page.page_id!r} already exists")
        self.pages[page.page_id] = page

    def needs_p(self) -> bool:
        return any(t.wants_p for t in self.types.values())

    def for_job(self, p: Any) -> ExtensionNetworks:
        """A copy bound to one job's `p` (same table); `finish()` deactivates after the job."""
        bound = ExtensionNetworks(self.reserved)
        bound.types, bound.p = self.types, p
        return bound

    def every_batch(self) -> bool:
        """A1111 activates its types before every batch, with that batch's tags: a job-bound copy
        holding one asks the engine to collect the contributions again for each batch."""
        return self.p is not None and any(t.per_job for t in self.types.values())

    def contribute(self, setup: FeatureSetup, pass_: PassContext) -> Contribution | None:
        total, called = Contribution(), False
        for network, params in self._grouped(setup.extra_networks):
            if network.per_job and pass_.index != 0:
                continue
            call = NetworkCall(network.name, pass_.index, pass_.model, setup.settings, setup.prompt, p=self.p)
            called = True
            try:
                network.activate(params, call)
            except Exception as err:  # isolation: the job goes on without this type, and says so
                log.error("extra network <%s> failed", network.name, exc_info=True)
                total.comments.append(f"Extension '{network.owner}': extra network <{network.name}:...> failed and "
                                      f"was skipped: {type(err).__name__}: {err}")
                continue
            if network.deactivate is not None and self.p is not None:  # only a job-bound copy is finished
                self.activated.append((network, call))
            total.merge(call.contribution())
        total.handled_networks = {k for k in setup.extra_networks if k in self.types}
        return total if called else None

    def _grouped(self, tags: Mapping[str, list[Any]]) -> list[tuple[NetworkType, list[Any]]]:
        """Each type once (aliases share one), with its tags in prompt order."""
        grouped: dict[int, tuple[NetworkType, list[Any]]] = {}
        for key, params in tags.items():
            network = self.types.get(key)
            if network is not None:
                grouped.setdefault(id(network), (network, []))[1].extend(params)
        for network in self.types.values():
            if network.always and id(network) not in grouped:
                grouped[id(network)] = (network, [])
        return list(grouped.values())

    def finish(self) -> list[str]:
        """Deactivate every type that was activated in this job; returns failures as messages."""
        problems: list[str] = []
        done: set[int] = set()
        for network, call in self.activated:
            if network.deactivate is None or id(network) in done:
                continue
            done.add(id(network))
            try:
                network.deactivate(call)
            except Exception as err:  # the job is done: name it, do not fail it
                log.error("deactivating <%s> failed", network.name, exc_info=True)
                problems.append(f"Extension '{network.owner}': deactivating extra network <{network.name}:...> "
                                f"failed: {type(err).__name__}: {err}")
        self.activated = []
        return problems


def extension_networks(runtime: Any) -> ExtensionNetworks:
    """The Runtime's feature for extension types, registered on first use."""
    for feature in runtime.features.all():
        if isinstance(feature, ExtensionNetworks):
            return feature
    services = getattr(runtime, "networks", None)
    feature = ExtensionNetworks(lambda: services.registry.names() if services is not None else [])
    runtime.features.register(feature)
    return feature


def bind_to_job(features: tuple[Any, ...], p: Any) -> tuple[tuple[Any, ...], list[ExtensionNetworks]]:
    """`features` with the extension-network feature bound to `p` (process_images calls this)."""
    bound = [f.for_job(p) if isinstance(f, ExtensionNetworks) else f for f in features]
    return tuple(bound), [f for f in bound if isinstance(f, ExtensionNetworks)]

