"""Fill the fields an API request leaves out with the recommended values of the model in use.

A1111's API defaults stay for every other model. Which fields count as sent: those in the JSON
body (pydantic's `model_fields_set`) and those an `infotext` filled; `sampler_index` counts as
sending a sampler. What was filled is returned so the answer's `info` can say so.
"""

from __future__ import annotations

from typing import Any

from modules.api.infotext_fill import parse_infotext, request_values
from modules.api.models import GenerationBody
from modules.models.recommended import recommended_defaults

SAMPLER_FIELDS = ("sampler_name", "sampler_index")


def sent_fields(body: GenerationBody, runtime: Any, mode: str) -> set[str]:
    sent = set(body.model_fields_set)
    if body.infotext:
        params = parse_infotext(body.infotext, runtime.settings, runtime.styles)
        sent |= set(request_values(params, mode, sent))
    return sent


def fill_model_defaults(values: dict[str, Any], body: GenerationBody, runtime: Any, mode: str,
                        checkpoint: Any) -> dict[str, Any]:
    """Put the checkpoint's recommended values into `values` for unsent fields; returns those set."""
    sent = sent_fields(body, runtime, mode)
    filled: dict[str, Any] = {}
    for name, value in recommended_defaults(checkpoint).items():
        unsent = not (set(SAMPLER_FIELDS) & sent) if name == "sampler_name" else name not in sent
        if unsent:
            values[name] = value
            filled[name] = value
    return filled
