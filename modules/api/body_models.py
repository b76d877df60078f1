"""Build the API's request models from the field table (`modules/engine/request_fields.py`).

Each table row becomes a pydantic field with the row's API name, type (nullable where the API
accepts null), default (a mode's own default where it has one), description, and the bounds of
its rules marked `in_schema`, so `/openapi.json` and the models' 422 answers follow the table.
Fields that are not request parameters (images, script payloads, `override_settings`,
`infotext`) stay written by hand in `modules/api/models.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field, create_model

from modules.engine.request_fields import KIND_TYPES, RequestField


def field_definition(row: RequestField, mode: str | None) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one row in the body of `mode` (None: the shared part)."""
    annotation: Any = KIND_TYPES[row.kind]
    if row.api_nullable():
        annotation = annotation | None
    bounds: dict[str, Any] = {}
    for rule in row.rules:
        bounds.update(rule.schema_bounds())
    default = row.default if mode is None else row.api_default(mode)
    return annotation, Field(default, description=row.description, **bounds)


def table_model(name: str, base: type[BaseModel], rows: tuple[RequestField, ...], mode: str | None,
                doc: str | None = None, module: str = __name__) -> type[BaseModel]:
    """A model named `name` deriving from `base` with one field per row."""
    fields = {row.attr: field_definition(row, mode) for row in rows}
    return create_model(name, __base__=base, __doc__=doc or base.__doc__, __module__=module,  # type: ignore[call-overload]
                        **fields)


def mode_overrides(rows: tuple[RequestField, ...], mode: str) -> tuple[RequestField, ...]:
    """Shared rows whose default differs in `mode` (img2img's denoising_strength=0.75)."""
    return tuple(row for row in rows if mode in row.mode_defaults)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def with_body(body: type[BaseModel]) -> Callable[[Handler], Handler]:
    """Give a route handler's `body` parameter the app's own request model (built from the
    runtime's field table) instead of the module's built-in one: FastAPI reads the parameter's
    annotation to parse and document the body."""
    def apply(handler: Handler) -> Handler:
        handler.__annotations__ = {**handler.__annotations__, "body": body}
        return handler
    return apply
