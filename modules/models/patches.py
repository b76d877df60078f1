"""Patches as data: edits to a model that hold for one scope and are undone after it.

LoRA, VAE swaps, hypernetworks and extension tweaks describe *what* to change (a `PatchSet`);
`applied()` changes it for the length of a `with` block and puts everything back on exit, also
when the block raises. Base weights are restored by copying the saved originals back (never by
subtracting the delta), so they are bit-identical afterwards. Deltas are added on whatever device
the weight sits on when the scope opens, which is why the model cache applies patches only after
placing the parts (under --medvram the weights live on the CPU between stages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch

DeltaSource = torch.Tensor | Callable[[], torch.Tensor]


@dataclass(frozen=True)
class WeightDelta:
    """weight += strength * delta, for the parameter `key` of the part `target`."""

    target: str
    key: str
    delta: DeltaSource
    strength: float = 1.0


@dataclass(frozen=True)
class ModuleReplacement:
    """Swap a submodule (dotted `path`) of a part; an empty path swaps the whole part (a VAE swap)."""

    target: str
    path: str
    module: Any


@dataclass(frozen=True)
class ForwardWrapper:
    """Route calls of a submodule through `wrap(original_forward, *args, **kwargs)`."""

    target: str
    path: str
    wrap: Callable[..., Any]


@dataclass(frozen=True)
class AttributeSet:
    """Set a plain attribute of a submodule (e.g. a Conv2d's `padding_mode` for seamless tiling)."""

    target: str
    path: str
    name: str
    value: Any


@dataclass(frozen=True)
class PatchSet:
    """A named group of patches, applied and undone together."""

    name: str
    weight_deltas: tuple[WeightDelta, ...] = ()
    replacements: tuple[ModuleReplacement, ...] = ()
    wrappers: tuple[ForwardWrapper, ...] = ()
    attributes: tuple[AttributeSet, ...] = ()

    def targets(self) -> set[str]:
        return {p.target for p in (*self.weight_deltas, *self.replacements, *self.wrappers, *self.attributes)}


class PatchError(ValueError):
    """A patch names a part, module or weight that does not exist."""


class PartSlots:
    """Where the parts live, so a whole-part replacement can be swapped in and out.

    `get(key)` returns the part; `set(key, value)` replaces it. The model cache passes its own
    slots (writing through to the LoadedModel); plain dicts work for tests.
    """

    def __init__(self, getter: Callable[[str], Any], setter: Callable[[str, Any], None]) -> None:
        self.get, self.set = getter, setter

    @classmethod
    def of_dict(cls, parts: dict[str, Any]) -> "PartSlots":
        return cls(parts.__getitem__, parts.__setitem__)


def _as_slots(parts: Mapping[str, Any] | PartSlots) -> PartSlots:
    if isinstance(parts, PartSlots):
        return parts
    return PartSlots.of_dict(dict(parts))


def _named_module(part: Any, path: str, patch_name: str) -> torch.nn.Module:
    root = _part_module(part)
    if not path:
        return root
    try:
        return root.get_submodule(path)
    except AttributeError as err:
        raise PatchError(f"patch '{patch_name}': the model has no submodule '{path}'") from err


def _part_module(part: Any) -> torch.nn.Module:
    """The text encoders are a list of bundles; index them as one ModuleList ("0.text_model...")."""
    if isinstance(part, list | tuple):
        return torch.nn.ModuleList([getattr(p, "model", p) for p in part])
    return part


def _parameter(part: Any, key: str, patch_name: str) -> torch.Tensor:
    root = _part_module(part)
    module_path, _, leaf = key.rpartition(".")
    try:
        module = root.get_submodule(module_path) if module_path else root
    except AttributeError as err:
        raise PatchError(f"patch '{patch_name}': the model has no weight '{key}'") from err
    tensor = module._parameters.get(leaf) if leaf in module._parameters else module._buffers.get(leaf)
    if tensor is None:
        raise PatchError(f"patch '{patch_name}': the model has no weight '{key}'")
    return tensor


@contextmanager
def _weight_deltas(slots: PartSlots, patch: PatchSet, keep: set[str]) -> Iterator[None]:
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        for d in patch.weight_deltas:
            if d.target not in keep:
                continue
            weight = _parameter(slots.get(d.target), d.key, patch.name)
            delta = d.delta() if callable(d.delta) else d.delta
            if delta.shape != weight.shape:
                raise PatchError(f"patch '{patch.name}': delta for '{d.key}' has shape {tuple(delta.shape)}, "
                                 f"the weight has {tuple(weight.shape)}")
            saved.append((weight, weight.detach().to("cpu", copy=True)))
            with torch.no_grad():
                weight.add_(delta.to(weight.device, weight.dtype), alpha=d.strength)
        yield
    finally:
        with torch.no_grad():
            for weight, original in reversed(saved):
                weight.copy_(original.to(weight.device))


def _parent_and_leaf(root: torch.nn.Module, path: str, patch_name: str) -> tuple[torch.nn.Module, str]:
    parent_path, _, leaf = path.rpartition(".")
    parent = _named_module(root, parent_path, patch_name)
    if not hasattr(parent, leaf):
        raise PatchError(f"patch '{patch_name}': the model has no submodule '{path}'")
    return parent, leaf


@contextmanager
def _replacements(slots: PartSlots, patch: PatchSet, keep: set[str]) -> Iterator[None]:
    undo: list[Callable[[], None]] = []
    try:
        for r in patch.replacements:
            if r.target not in keep:
                continue
            if not r.path:
                old_part = slots.get(r.target)
                slots.set(r.target, r.module)
                undo.append(lambda t=r.target, o=old_part: slots.set(t, o))
                continue
            parent, leaf = _parent_and_leaf(_part_module(slots.get(r.target)), r.path, patch.name)
            old = getattr(parent, leaf)
            setattr(parent, leaf, r.module)
            undo.append(lambda p=parent, n=leaf, o=old: setattr(p, n, o))
        yield
    finally:
        for fn in reversed(undo):
            fn()


@contextmanager
def _wrappers(slots: PartSlots, patch: PatchSet, keep: set[str]) -> Iterator[None]:
    undo: list[Callable[[], None]] = []
    try:
        for w in patch.wrappers:
            if w.target not in keep:
                continue
            module = _named_module(slots.get(w.target), w.path, patch.name)
            had_own = "forward" in module.__dict__
            previous = module.forward

            def wrapped(*args: Any, _prev: Any = previous, _wrap: Any = w.wrap, **kwargs: Any) -> Any:
                return _wrap(_prev, *args, **kwargs)

            module.forward = wrapped  # instance attribute: only this module, only this scope
            undo.append(lambda m=module, o=previous, h=had_own: _restore_forward(m, o, h))
        yield
    finally:
        for fn in reversed(undo):
            fn()


@contextmanager
def _attributes(slots: PartSlots, patch: PatchSet, keep: set[str]) -> Iterator[None]:
    undo: list[Callable[[], None]] = []
    try:
        for a in patch.attributes:
            if a.target not in keep:
                continue
            module = _named_module(slots.get(a.target), a.path, patch.name)
            if not hasattr(module, a.name):
                raise PatchError(f"patch '{patch.name}': '{a.path}' has no attribute '{a.name}'")
            old = getattr(module, a.name)
            setattr(module, a.name, a.value)
            undo.append(lambda m=module, n=a.name, o=old: setattr(m, n, o))
        yield
    finally:
        for fn in reversed(undo):
            fn()


def _restore_forward(module: torch.nn.Module, previous: Any, had_own: bool) -> None:
    if had_own:
        module.forward = previous
    else:
        del module.forward


@contextmanager
def applied(parts: Mapping[str, Any] | PartSlots, patch_sets: Sequence[PatchSet],
            only: set[str] | None = None) -> Iterator[None]:
    """Apply the patch sets to `parts` (key -> part) for the block; undo in reverse order after.

    `only` limits the patches to those targets (the parts placed by one `cache.use`); patches for
    other parts are left for the scope that places them.
    """
    slots = _as_slots(parts)
    keep = set(only) if only is not None else {t for p in patch_sets for t in p.targets()}
    with ExitStack() as stack:
        for patch in patch_sets:
            stack.enter_context(_replacements(slots, patch, keep))
            stack.enter_context(_weight_deltas(slots, patch, keep))
            stack.enter_context(_wrappers(slots, patch, keep))
            stack.enter_context(_attributes(slots, patch, keep))
        yield
