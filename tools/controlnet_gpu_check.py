"""Device check (not run yet): ControlNet through the engine on CUDA, fp16, normal and medvram policies,
tiny SD1 and SDXL models with tiny ControlNets. Prints, per case, the weight dtype, the mean pixel change a
unit makes (expect > 0), the change at weight 0 (expect 0.0) and whether the pixels are finite.

    PYTHONPATH=. python3 tools/controlnet_gpu_check.py
"""
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, ".")
from PIL import Image  # noqa: E402

from modules.controlnet.feature import ControlNetFeature
from modules.controlnet.service import ControlNetService
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.models.cache import ModelCache
from modules.models.memory import MemoryMode, MemoryPolicy
from modules.models.sd_model import ModelFamily
from tests.engine_helpers import engine_context
from tests.fixtures.tiny_controlnets import build_tiny_controlnet, write_lllyasviel
from tests.fixtures.tiny_models import make_tiny_checkpoint  # noqa: E402

tmp = Path(tempfile.mkdtemp())
print("cuda", torch.cuda.is_available(), torch.__version__, flush=True)
for fam in (ModelFamily.SD1, ModelFamily.SDXL):
    ck = make_tiny_checkpoint(fam, tmp / f"{fam.value}.safetensors")
    write_lllyasviel(build_tiny_controlnet(fam), tmp / "cn" / f"control_{fam.value}.safetensors")
    for mode in (MemoryMode.NORMAL, MemoryMode.MEDVRAM):
        cache = ModelCache(MemoryPolicy(mode, "cuda"), configs_dir=Path("configs"))
        model = cache.get(ck)
        ctx = engine_context(ck, tmp, model=model)
        ctx = dataclasses.replace(ctx, models=cache, device=torch.device("cuda"))
        service = ControlNetService([tmp / "cn"], tmp / "ann")
        ctrl = np.zeros((64, 64, 3), np.uint8)
        ctrl[8:40, 4:30] = 255
        unit = {"enabled": True, "module": "canny", "model": f"control_{fam.value}", "image": Image.fromarray(ctrl),
                "control_mode": 2}
        base = dict(prompt="a red circle", width=64, height=64, steps=6, cfg_scale=5.0, sampler_name="Euler",
                    seed=3, save_images=False)
        c2 = dataclasses.replace(ctx, features=(ControlNetFeature(service),))
        t = time.perf_counter()
        plain = np.asarray(generate(GenerationRequest(**base), c2).images[0], np.int16)
        def run(u, base=base, c2=c2):
            req = GenerationRequest(alwayson_scripts={"controlnet": {"args": [u]}}, **base)
            return np.asarray(generate(req, c2).images[0], np.int16)

        on, zero = run(unit), run({**unit, "weight": 0})
        print(fam.value, mode.value, "dtype", next(model.unet.parameters()).dtype,
              "diff on", round(float(np.abs(on - plain).mean()), 2), "diff w0", float(np.abs(zero - plain).mean()),
              "finite", bool(np.isfinite(on).all()), f"{time.perf_counter() - t:.1f}s", flush=True)
print("ok")
