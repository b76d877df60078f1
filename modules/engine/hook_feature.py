"""The extension hook points inside the denoiser, as one job feature.

The hook host (modules/hooks/host.py) knows nothing of the engine; this adapter turns whatever is
registered on pre_cfg / post_cfg / on_step into a `Contribution`, each call isolated by the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modules.engine.features import Contribution
from modules.hooks.host import HookHost


class HookFeature:
    """Feeds the pre_cfg / post_cfg / on_step hook points into every job as an isolated feature."""

    name = "extension hooks"

    def __init__(self, host: HookHost) -> None:
        self.host = host

    def contribute(self, setup: Any, pass_: Any) -> Contribution:
        def caller(point: str) -> Callable[[Any], None]:
            return lambda payload: self.host.call(point, payload) and None

        c = Contribution()
        if self.host.has("pre_cfg"):
            c.pre_cfg.append(caller("pre_cfg"))
        if self.host.has("post_cfg"):
            c.post_cfg.append(caller("post_cfg"))
        if self.host.has("on_step"):
            c.on_step.append(caller("on_step"))
        return c
