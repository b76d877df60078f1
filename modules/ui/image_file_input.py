"""An image upload that hands over the uploaded file even when it is not a picture.

gradio's `gr.Image` decodes every upload before the handler runs; a text file named `.png`
then fails inside gradio with "Could not preprocess input component ... UnidentifiedImageError"
and a console traceback, and the handler never gets to say what is wrong. The widget made here
(gradio's own image component) passes the raw file's path instead, so the tab's handler reads
it and answers "not an image". The instance's `preprocess` is wrapped rather than subclassing
`gr.Image`, since gradio writes a `.pyi` stub beside every module that subclasses a component.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import UnidentifiedImageError


def image_file_input(**kwargs: Any) -> gr.Image:
    """`gr.Image(type="filepath", **kwargs)` whose undecodable uploads reach the handler as their path."""
    widget = gr.Image(type="filepath", **kwargs)
    decode = widget.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return decode(payload)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return getattr(payload, "path", None)

    widget.preprocess = preprocess  # type: ignore[method-assign]
    return widget
