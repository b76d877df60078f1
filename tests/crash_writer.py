"""A child process for the kill -9 test: settings writes and image saves through the real
store and saver, printing `ack <kind> <value>` only once each write has returned (the moment
the API would answer 200). The test kills it at random moments.

Usage: python -m tests.crash_writer <data folder> <first number>
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from modules.images.filenames import FilenameContext
from modules.images.saving import SaveOptions, save_image
from modules.settings.store import SettingsStore


def main(data: Path, first: int) -> None:
    store = SettingsStore(data / "config.json")
    options = SaveOptions(save_to_dirs=False, samples_filename_pattern="[seed]", save_txt=True)
    for n in range(first, first + 100000):
        store.update({"jpeg_quality": 1 + n % 100, "outdir_save": f"log/run{n}"})
        print(f"ack settings {n}", flush=True)
        image = Image.effect_noise((256, 256), 64).convert("RGB")  # noise: slow to compress, real bytes
        path, _ = save_image(image, data / "outputs", "", seed=n, info=f"seed {n}", options=options,
                             context=FilenameContext(prompt="p"))
        print(f"ack image {path}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
