"""The ControlNet accordion of txt2img and img2img: one tab per unit.

Each unit: Enable, its image (drag and drop; empty in img2img = the input image), Control Type
(filters the preprocessor and model lists), preprocessor with a 💥 preview of the detected map,
model (🔄 rescans the folder), weight, start/end, control mode, resize mode, pixel perfect,
processor resolution and the preprocessor's own thresholds (shown only when it has them), and
under "Mask" one optional mask: the unit's effective region (the control applies only where it is
white), or for an inpaint preprocessor the area to repaint (controlnet_form.py routes it). After
Generate the gallery shows the detected maps after the pictures, as the API's images do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from modules.controlnet.preprocessors.registry import CONTROL_TYPES
from modules.controlnet.preprocessors.spec import RESOLUTION
from modules.controlnet.unit import ControlMode, HiresOption, ResizeMode
from modules.ui.controlnet_form import PASTE_ACCORDION, PASTE_BODY, field_name
from modules.ui.tool_button import tool_button


@dataclass
class UnitWidgets:
    fields: dict[str, Any] = field(default_factory=dict)  # form name -> component
    use_output: Any = None  # 📥: the output image picked in the gallery -> this unit's image


@dataclass
class ControlNetAccordion:
    fields: dict[str, Any] = field(default_factory=dict)
    units: list[UnitWidgets] = field(default_factory=list)
    body: Any = None  # the column shown when the accordion opens (paste opens it too)
    accordion: Any = None

    def paste_targets(self) -> dict[str, Any]:
        """Pasted units land in the unit fields; the accordion opens so the user sees them."""
        if self.body is None:
            return {}
        return {**self.fields, PASTE_BODY: self.body, PASTE_ACCORDION: self.accordion}

    def wire_outputs(self, result: Any, selected: Any) -> None:
        """📥 of every unit: copy the output the user picked (or the first one) into the unit."""
        from modules.ui.output_panel import picked_image

        for index, unit in enumerate(self.units):
            unit.use_output.click(lambda r, s: picked_image(r, s)[0], inputs=[result, selected],
                                  outputs=unit.fields[field_name(index, "image")], show_progress="hidden")


def module_choices(service: Any, tag: str = "All") -> list[tuple[str, str]]:
    pres = service.preprocessors.all()
    return [(p.display_name, p.name) for p in pres if tag == "All" or tag in p.tags or p.name == "none"]


def model_choices(service: Any, tag: str = "All", refresh: bool = False) -> list[str]:
    titles = service.model_titles(refresh)
    keywords = CONTROL_TYPES.get(tag, ((), "none"))[0]
    return [t for t in titles if t == "None" or not keywords or any(k in t.lower() for k in keywords)]


def slider_updates(service: Any, module: str) -> tuple[Any, Any, Any]:
    """Resolution / threshold A / threshold B sliders for a preprocessor (hidden when unused)."""
    try:
        pre = service.preprocessors.get(module)
    except KeyError:
        return gr.update(visible=False), gr.update(visible=False), gr.update(visible=False)
    res = gr.update(visible=pre.uses_resolution, value=pre.resolution.value)
    out = [res]
    for spec in (pre.threshold_a, pre.threshold_b):
        if spec is None:
            out.append(gr.update(visible=False, value=-1))
        else:
            out.append(gr.update(visible=True, label=spec.name, minimum=spec.min, maximum=spec.max, step=spec.step,
                                 value=spec.value))
    return out[0], out[1], out[2]


def preview_map(service: Any, image: Any, module: str, res: float, a: float, b: float) -> Any:
    if image is None:
        raise gr.Error("Upload a control image to the unit first, then press 💥 to preview the detected map.")
    try:
        detected, _ = service.detect(module, image, int(res), float(a), float(b))
    except (KeyError, FileNotFoundError, ValueError) as err:
        raise gr.Error(str(err)) from err
    return gr.update(value=detected, visible=True)


def _unit(service: Any, tab: str, index: int) -> UnitWidgets:
    w = UnitWidgets()
    name = lambda f: field_name(index, f)  # noqa: E731
    elem = f"{tab}_controlnet_{index}"
    with gr.Row():
        w.fields[name("image")] = gr.Image(label="Control image", type="pil", sources=["upload", "clipboard"],
                                          elem_id=f"{elem}_image", height=256)
        detected = gr.Image(label="Preprocessor preview", interactive=False, visible=False, height=256,
                            elem_id=f"{elem}_preview")
    with gr.Row():
        w.fields[name("enabled")] = gr.Checkbox(label="Enable", value=False, elem_id=f"{elem}_enable")
        w.fields[name("low_vram")] = gr.Checkbox(label="Low VRAM", value=False)
        w.fields[name("pixel_perfect")] = gr.Checkbox(label="Pixel Perfect", value=False,
                                                      elem_id=f"{elem}_pixel_perfect")
        w.use_output = tool_button("📥", f"{elem}_use_output")  # the picked output becomes the control image
    control_type = gr.Radio(list(CONTROL_TYPES), value="All", label="Control Type", elem_id=f"{elem}_type")
    with gr.Row():
        module = w.fields[name("module")] = gr.Dropdown(module_choices(service), value="none", label="Preprocessor",
                                                        elem_id=f"{elem}_module")
        run = tool_button("💥", f"{elem}_run_preprocessor")
        model = w.fields[name("model")] = gr.Dropdown(model_choices(service), value="None", label="Model",
                                                      allow_custom_value=True, elem_id=f"{elem}_model")
        refresh = tool_button("🔄", f"{elem}_refresh_models")
    with gr.Row():
        w.fields[name("weight")] = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Control Weight",
                                             elem_id=f"{elem}_weight")
        w.fields[name("guidance_start")] = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Starting Control Step")
        w.fields[name("guidance_end")] = gr.Slider(0.0, 1.0, value=1.0, step=0.01, label="Ending Control Step")
    with gr.Row():
        res = w.fields[name("processor_res")] = gr.Slider(RESOLUTION.min, RESOLUTION.max, value=RESOLUTION.value,
                                                          step=RESOLUTION.step, label="Preprocessor Resolution",
                                                          visible=False)
        a = w.fields[name("threshold_a")] = gr.Slider(-1, 255, value=-1, label="Threshold A", visible=False)
        b = w.fields[name("threshold_b")] = gr.Slider(-1, 255, value=-1, label="Threshold B", visible=False)
    w.fields[name("control_mode")] = gr.Radio([m.value for m in ControlMode], value=ControlMode.BALANCED.value,
                                              label="Control Mode")
    w.fields[name("resize_mode")] = gr.Radio([m.value for m in ResizeMode], value=ResizeMode.CROP_AND_RESIZE.value,
                                             label="Resize Mode")
    w.fields[name("hr_option")] = gr.Radio([m.value for m in HiresOption], value=HiresOption.BOTH.value,
                                           label="Hires fix: apply to")
    with gr.Accordion("Mask", open=False, elem_id=f"{elem}_masks"):
        w.fields[name("mask")] = gr.Image(
            label="Mask: the control applies only where it is white (inpaint: the area to repaint)", type="pil",
            sources=["upload", "clipboard"], image_mode="L", elem_id=f"{elem}_mask", height=200)

    def on_type(tag: str) -> tuple[Any, Any]:
        default = CONTROL_TYPES[tag][1]
        models = model_choices(service, tag)
        return (gr.update(choices=module_choices(service, tag), value=default),
                gr.update(choices=models, value=models[1] if tag != "All" and len(models) > 1 else "None"))

    control_type.change(on_type, inputs=control_type, outputs=[module, model], show_progress="hidden")
    module.change(lambda m: slider_updates(service, m), inputs=module, outputs=[res, a, b], show_progress="hidden")
    refresh.click(lambda tag: gr.update(choices=model_choices(service, tag, refresh=True)), inputs=control_type,
                  outputs=model, show_progress="hidden")
    run.click(lambda img, m, r, ta, tb: preview_map(service, img, m, r, ta, tb),
              inputs=[w.fields[name("image")], module, res, a, b], outputs=detected, show_progress="minimal")
    return w


def build_controlnet_accordion(runtime: Any, tab: str) -> ControlNetAccordion:
    """The accordion; its form fields are `controlnet_<i>_<field>` -> component."""
    built = ControlNetAccordion()
    service = getattr(runtime, "controlnet", None)
    if service is None:
        return built
    count = int(runtime.settings.get("control_net_unit_count", 3))
    with gr.Accordion("ControlNet", open=False, elem_id=f"{tab}_controlnet") as accordion:
        # Hidden until the accordion opens: the browser then mounts the units' widgets only when
        # they are wanted (they cost ~0.3 s of page load each otherwise); values work either way.
        with gr.Column(visible=False) as body, gr.Tabs():
            for index in range(count):
                with gr.Tab(f"ControlNet Unit {index}", elem_id=f"{tab}_controlnet_unit_{index}_tab"):
                    unit = _unit(service, tab, index)
                    built.units.append(unit)
                    built.fields.update(unit.fields)
    accordion.expand(lambda: gr.update(visible=True), outputs=body, queue=False, show_progress="hidden")
    built.body, built.accordion = body, accordion
    return built
