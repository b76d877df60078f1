"""The detected maps of the job being run, appended to its result's images.

The extension appends every enabled unit's detected map (fitted to the generation size, the
hires size with hires fix) to the output images, unless the unit says `save_detected_map: false`
or the setting "Do not append detectmap to output" (`control_net_no_detectmap`) is on. Doing it
in the job's result means the API's `images` and the UI's gallery show the same pictures, and the
preprocessors run once. The feature collects the maps while it prepares the passes; the
`after_job` hook hands them to the result.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

NO_DETECTMAP = "control_net_no_detectmap"


class ResultMaps:
    """Maps per unit index for one job (the queue runs one job at a time; a new job starts over)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: int | None = None
        self._maps: dict[int, np.ndarray] = {}

    def start(self, req: Any, wanted: bool) -> None:
        with self._lock:
            self._job = id(req) if wanted else None
            self._maps = {}

    def put(self, req: Any, index: int, detected: np.ndarray) -> None:
        """A later pass (hires) replaces the unit's map with its larger one."""
        with self._lock:
            if self._job == id(req):
                self._maps[index] = detected

    def take(self, req: Any) -> list[Image.Image]:
        with self._lock:
            if self._job != id(req):
                return []
            maps = [Image.fromarray(np.ascontiguousarray(self._maps[i])) for i in sorted(self._maps)]
            self._job, self._maps = None, {}
            return maps

    def append_to_result(self, payload: Any) -> None:
        """The `after_job` hook: the maps follow the job's images (nothing for an empty result)."""
        maps = self.take(payload.req)
        if maps and payload.result.images:
            payload.result.images.extend(maps)
