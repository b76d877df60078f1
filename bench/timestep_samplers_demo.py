"""DDIM, PLMS and UniPC on the demo model at few steps: ours, diffusers' schedulers, and the exact ODE.

    venv/bin/python bench/timestep_samplers_demo.py [--steps 10] [--cfg 3] [--seeds 1 2 3 4 5 6 7 8]

Why: with the demo model at 10 steps, PLMS draws wrong colours and UniPC sometimes an orange
shape for "a red circle on a blue background". This tells a bug from the method's own
behaviour. Extra samplers are added to the app's sampler registry and run through the
ordinary engine path (conditioning, CFG denoiser, start noise, decode):
- "PLMS (diffusers PNDM)" and "UniPC (diffusers)": diffusers' schedulers configured as A1111
  runs these samplers (see tests/test_samplers_parity.py), driven by the same CFG denoiser;
- "ODE (DDIM, every timestep)": DDIM over every training timestep from the same start, a
  near-exact solution of the ODE that PLMS and UniPC approximate.
Prints, per seed, the judged colours and the mean pixel distance of each picture to the ODE one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.cmd_args import parse_args  # noqa: E402
from modules.engine.request import GenerationRequest  # noqa: E402
from modules.runtime import build_runtime  # noqa: E402
from modules.samplers import timestep, unipc  # noqa: E402
from modules.samplers.options import SamplerOptions  # noqa: E402
from modules.samplers.registry import SamplerSpec  # noqa: E402
from modules.samplers.timestep import alpha_of  # noqa: E402
from modules.training.judge import judge_image  # noqa: E402

BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
PROMPT = "a red circle on a blue background"


def _eps(model: Any, x_vp: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The CFG denoiser's noise prediction for a VP latent at a (k-diffusion) sigma."""
    x_k = x_vp / alpha_of(sigma) ** 0.5
    return (x_k - model(x_k, x_k.new_ones([x_k.shape[0]]) * sigma)) / sigma


def pndm(model: Any, x: torch.Tensor, sigmas: torch.Tensor, *, options: SamplerOptions, **_: Any) -> torch.Tensor:
    from diffusers import PNDMScheduler

    ts = [int(round(float(options.schedule.sigma_to_t(s)))) for s in sigmas]  # A1111's timesteps
    sch = PNDMScheduler(**BETAS, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
    sch.set_timesteps(1000 // (ts[0] - ts[1]))  # PNDM's step size is then A1111's spacing
    sch.timesteps = torch.tensor([ts[0], ts[1], ts[1], *ts[2:]])  # PNDM repeats the second timestep
    x_vp = x * alpha_of(sigmas[0]) ** 0.5
    for t in sch.timesteps[: len(ts)]:  # one model call per A1111 timestep; A1111 stops at t=1
        x_vp = sch.step(_eps(model, x_vp, options.schedule.sigmas[int(t)]), t, x_vp).prev_sample
    return x_vp


def unipc_diffusers(model: Any, x: torch.Tensor, sigmas: torch.Tensor, *, options: SamplerOptions,
                    **_: Any) -> torch.Tensor:
    from diffusers import UniPCMultistepScheduler

    schedule, steps = options.schedule, len(sigmas)
    vp = unipc.VPTime(schedule.alphas_cumprod)
    ts = unipc.time_steps(vp, options.uni_pc_skip_type, 1.0, 1.0 / vp.total_n, steps)
    sch = UniPCMultistepScheduler(**BETAS, solver_order=options.uni_pc_order, solver_type=options.uni_pc_variant,
                                  predict_x0=True, lower_order_final=options.uni_pc_lower_order_final,
                                  final_sigmas_type="sigma_min")
    sch.set_timesteps(steps)
    sch.sigmas = torch.tensor([vp.sigma(t) / vp.alpha(t) for t in ts], dtype=torch.float32)
    sch.timesteps = torch.tensor([vp.model_time(t) for t in ts[:-1]], dtype=torch.float64)
    x_vp = x * alpha_of(sigmas[0]) ** 0.5
    for t in sch.timesteps:
        x_vp = sch.step(_eps(model, x_vp, schedule.t_to_sigma(t.float())), t, x_vp).prev_sample
    return x_vp


def ode(model: Any, x: torch.Tensor, sigmas: torch.Tensor, *, options: SamplerOptions, **_: Any) -> torch.Tensor:
    schedule = options.schedule
    start = int(round(float(schedule.sigma_to_t(sigmas[0]))))
    fine = schedule.sigmas[torch.arange(start, 0, -1)]
    return timestep.ddim(model, x, fine, options=SamplerOptions(eta=0.0))


REFERENCES = {"PLMS (diffusers PNDM)": pndm, "UniPC (diffusers)": unipc_diffusers, "ODE (DDIM, every timestep)": ode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 9)))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rt = build_runtime(parse_args(["--data-dir", tempfile.mkdtemp(), "--cpu"], environ={}))
    for name, fn in REFERENCES.items():
        rt.samplers.add(SamplerSpec(name, (), None, fn, kind="timestep"))
    names = ["Euler", "DDIM", "PLMS", "PLMS (diffusers PNDM)", "UniPC", "UniPC (diffusers)",
             "ODE (DDIM, every timestep)"]
    print(f"steps {args.steps}, CFG {args.cfg}, prompt {PROMPT!r}; colour shape/background, mean |pixel - ODE pixel|")
    try:
        for seed in args.seeds:
            images = {}
            for name in names:
                req = GenerationRequest(prompt=PROMPT, seed=seed, width=64, height=64, steps=args.steps,
                                        cfg_scale=args.cfg, sampler_name=name, save_images=False)
                images[name] = rt.run(req, timeout=900).images[0]
            truth = np.asarray(images[names[-1]], dtype=np.float32)
            cells = []
            for name in names:
                verdict = judge_image(images[name])
                dist = np.abs(np.asarray(images[name], dtype=np.float32) - truth).mean()
                cells.append(f"{name}: {verdict.colour}/{verdict.background} {dist:.1f}")
            print(f"seed {seed}: " + "; ".join(cells), flush=True)
    finally:
        rt.shutdown()


if __name__ == "__main__":
    main()
