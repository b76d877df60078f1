"""Example extension (extension API v1): a tab, a setting, an API route and a per-step hook.

Install it from the Extensions tab ("Install from URL" with this folder's path, or a git URL of a
copy), press "Apply and restart UI", then open the "Example" tab.
"""

import gradio as gr

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
