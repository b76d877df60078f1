"""A feature's own request fields in the UI: widget values by field name into the request.

A feature that adds a row to the app's field table (`runtime.request_fields.add(row)` while it
registers) names its widget like the row (`fields["cfg_rescale"] = slider`); the tab's paste
button fills it from the infotext (the paste reads the app's table) and Generate hands its value
to the request by name, typed by the row's kind, where the feature reads `req.value(name)`.
The tab's own form fields are left to the form (`Txt2ImgForm`, `Img2ImgForm`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modules.engine.request import GenerationRequest
from modules.engine.request_fields import REQUEST_FIELDS, RequestField, convert_kind
from modules.engine.validation import InvalidRequestError, steps_bound, validate_request


def app_fields(runtime: Any) -> tuple[RequestField, ...]:
    """The app's field table (built-in rows plus those its features added)."""
    table = getattr(runtime, "request_fields", None)
    return REQUEST_FIELDS if table is None else table.rows


def split_table_values(values: Mapping[str, Any], rows: tuple[RequestField, ...],
                       form_fields: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the values the form takes, the values of table rows the form does not know), the latter
    typed by each row's kind; a value that does not fit is refused naming the widget."""
    known = set(form_fields)
    by_name = {row.attr: row for row in rows if row.attr not in known}
    rest = {k: v for k, v in values.items() if k not in by_name}
    typed: dict[str, Any] = {}
    for name in values.keys() & by_name.keys():
        row, value = by_name[name], values[name]
        try:
            typed[name] = None if value is None else convert_kind(row.kind, value)
        except (TypeError, ValueError) as e:
            raise InvalidRequestError(f"{row.label or name} must be a {row.kind}, got {value!r}") from e
    return rest, typed


def with_table_values(runtime: Any, req: GenerationRequest, values: Mapping[str, Any]) -> GenerationRequest:
    """`req` with a feature's field values, checked by the app's table rules (beside the form)."""
    if not values:
        return req
    req = req.with_values(values)
    validate_request(req, max_steps=steps_bound(runtime.settings), fields=app_fields(runtime))
    return req


def feature_paste_names(runtime: Any, tab: str) -> set[str]:
    """Fields of features' own rows that a paste fills in `tab` (the built-in ones are listed by the tab)."""
    builtin = {row.attr for row in REQUEST_FIELDS}
    return {row.attr for row in app_fields(runtime)
            if row.attr not in builtin and row.infotext and tab in row.ui_tabs}
