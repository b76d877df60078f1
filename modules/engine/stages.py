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
from modules.models.patches import PartSlots, PatchSet, applied

if TYPE_CHECKING:
    from modules.engine.processing import JobState


@contextmanager
def stage(ctx: EngineContext, parts: str | Sequence[str], patches: Sequence[PatchSet] = (),
          extra: Sequence[str] = ()) -> Iterator[None]:
    """Run a block with `parts` (+ `extra` model handles) placed and `patches` applied."""
    keys = [parts] if isinstance(parts, str) else list(parts)
    cache = ctx.models
    if cache is not None and cache.current is ctx.model:
        with cache.use(keys, patches=patches, extra=extra):
            yield
        return
    model = ctx.model
    slots = PartSlots(lambda key: _bare_part(ctx, key), lambda key, value: setattr(model, key, value))
    with applied(slots, patches, only=set(keys)):
        yield


def _bare_part(ctx: EngineContext, key: str) -> Any:
    if key in ("unet", "vae", "text_encoders"):
        return getattr(ctx.model, key)
    raise ValueError(f"model handle '{key}' needs the model cache; run the job through the Runtime")


@contextmanager
def pass_stage(state: "JobState", parts: str) -> Iterator[None]:
    """`stage` with the current pass's patches; sampling also places the features' models."""
    contribution = state.active.contribution
    extra = contribution.models if parts == "unet" else ()
    with stage(state.ctx, parts, contribution.patches, extra):
        yield
