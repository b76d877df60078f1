"""Example extension (extension API v1): a tab, a setting, an API route, a per-step hook, a
sampler and an upscaler of its own (they appear in the dropdowns and the API lists) and an
extra-network type: `<example_contrast:0.3>` in a prompt raises the latent contrast.

Install it from the Extensions tab ("Install from URL" with this folder's path, or a git URL of a
copy), press "Apply and restart UI", then open the "Example" tab.
"""

import gradio as gr
from PIL import Image

from modules import extension_api as api

api.require(1)


class StepCounter:
    """Counts the sampler steps of the last job (per-step hook) and how many jobs ran."""

    def __init__(self):
        self.jobs = 0
        self.last_job_steps = 0

    def before_job(self, payload):
        self.jobs += 1
        self.last_job_steps = 0

    def on_step(self, info):
        self.last_job_steps = max(self.last_job_steps, info.step)  # steps count from 1 here

    def as_dict(self):
        return {"jobs": self.jobs, "last_job_steps": self.last_job_steps}


counter = StepCounter()
api.on("before_job", counter.before_job)
api.on("on_step", counter.on_step)
api.add_setting("example_greeting", "Hello from the example extension", "Greeting on the Example tab")


def build_tab():
    gr.Markdown(api.settings().get("example_greeting", ""), elem_id="example_greeting")
    steps = gr.Textbox(label="Steps of the last job", elem_id="example_steps")
    gr.Button("Show steps", elem_id="example_show").click(lambda: str(counter.last_job_steps), outputs=steps)


api.add_tab("Example", build_tab, "example")
api.add_route("GET", "/example-extension/steps", counter.as_dict)


def midpoint_sampler(model, x, sigmas, *, extra_args=None, callback=None, noise_sampler=None, options=None):
    """The explicit midpoint method on the probability-flow ODE (k-diffusion conventions: `model(x,
    sigma)` gives the denoised latent; sigmas end with 0). Two model calls per step, one on the last."""
    extra_args = extra_args or {}
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * x.new_ones([x.shape[0]]), **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma, "denoised": denoised})
        d = (x - denoised) / sigma
        if sigma_next == 0:
            x = denoised
            continue
        sigma_mid = (sigma * sigma_next).sqrt()
        x_mid = x + d * (sigma_mid - sigma)
        denoised_mid = model(x_mid, sigma_mid * x.new_ones([x.shape[0]]), **extra_args)
        x = x + (x_mid - denoised_mid) / sigma_mid * (sigma_next - sigma)
    return x


def box_upscale(image, scale):
    """A deliberately simple upscaler: every pixel becomes a square block (pixel-art friendly)."""
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.BOX)


api.add_sampler("Example Midpoint", midpoint_sampler, aliases=("example_midpoint",), scheduler="karras",
                second_order=True, description="The example extension's midpoint sampler")
api.add_upscaler("Example Box", box_upscale, scale=2)


def example_contrast(params_list, call):
    """`<example_contrast:amount>`: after each CFG step, push the denoised latent away from its mean
    (per picture) by `amount` (tags add up). The tag is removed from the text that is encoded."""
    amount = sum(float(p.positional[0]) if p.positional else 0.5 for p in params_list)

    def stretch(payload):
        mean = payload.denoised.mean(dim=(1, 2, 3), keepdim=True)
        payload.denoised = mean + (payload.denoised - mean) * (1 + amount)

    call.post_cfg.append(stretch)
    call.infotext["Example contrast"] = amount


api.add_extra_network("example_contrast", example_contrast)
