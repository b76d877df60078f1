"""An image upload that hands over the uploaded file even when it is not a picture.

gradio's `gr.Image` decodes every upload before the handler runs; a text file named `.png`
then fails inside gradio with "Could not preprocess input component ... UnidentifiedImageError"
and a console traceback, and the handler never gets to say what is wrong. This subclass (the
same `image` component in the browser) passes the raw file's path instead, so the tab's
handler reads it and answers "not an image".
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import UnidentifiedImageError


class ImageFileInput(gr.Image):
    """`gr.Image(type="filepath")` whose undecodable uploads reach the handler as their path."""

    is_template = True  # the browser draws it as gradio's own image component

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return getattr(payload, "path", None)
