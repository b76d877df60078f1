"""The engine's stage scopes: every model use goes through `cache.use(...)` with the pass's patches.

Text encoding, VAE encode/decode and sampling each run inside `stage(...)`. With a model cache
(the app) the cache makes room, places the parts and applies the patches; engine tests that
build an `EngineContext` by hand have no cache, and then the patches are applied to the model in
place of it (nothing is moved).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from modules.engine.context import EngineContext
from modules.models.patches import ForwardWrapper, PartSlots, PatchSet, applied

if TYPE_CHECKING:
    from modules.engine.processing import JobState


@contextmanager
def stage(ctx: EngineContext, parts: str | Sequence[str], patches: Sequence[PatchSet] = (),
          extra: Sequence[str] = (), model: Any = None) -> Iterator[None]:
    """Run a block with `parts` (+ `extra` model handles) of `model` (default: the job's) placed
    and `patches` applied."""
    keys = [parts] if isinstance(parts, str) else list(parts)
    cache = ctx.models
    model = ctx.model if model is None else model
    if cache is not None and cache.current is model:
        with cache.use(keys, patches=patches, extra=extra):
            yield
        return
    slots = PartSlots(lambda key: _bare_part(model, key), lambda key, value: setattr(model, key, value))
    with applied(slots, patches, only=set(keys)):
        yield


def _bare_part(model: Any, key: str) -> Any:
    if key in ("unet", "vae", "text_encoders"):
        return getattr(model, key)
    raise ValueError(f"model handle '{key}' needs the model cache; run the job through the Runtime")


@contextmanager
def pass_stage(state: "JobState", parts: str) -> Iterator[None]:
    """`stage` with the current pass's patches; sampling also places the features' models.

    VAE stages also check Interrupt between the VAE's blocks: decoding or encoding a big picture
    (or its tiles) can take minutes on a CPU, and Interrupt must not wait for it."""
    contribution = state.active.contribution
    extra = contribution.models if parts == "unet" else ()
    patches = list(contribution.patches)
    model = state.model
    if parts == "vae":
        patches.append(interrupt_checks(model.vae, state.control.check))
    with stage(state.ctx, parts, patches, extra, model=model):
        yield


def interrupt_checks(vae: Any, check: Any) -> PatchSet:
    """A patch set that calls `check()` (raises on Interrupt/Skip) before each VAE block runs."""
    def wrap(original: Any, *args: Any, **kwargs: Any) -> Any:
        check()
        return original(*args, **kwargs)

    paths = []
    for side in ("encoder", "decoder"):
        coder = getattr(vae, side, None)
        if coder is None:
            continue
        for blocks in ("down_blocks", "up_blocks"):
            paths += [f"{side}.{blocks}.{i}" for i in range(len(getattr(coder, blocks, ())))]
        if getattr(coder, "mid_block", None) is not None:
            paths.append(f"{side}.mid_block")
    return PatchSet("interrupt checks", wrappers=tuple(ForwardWrapper("vae", path, wrap) for path in paths))
