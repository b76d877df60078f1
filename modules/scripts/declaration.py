"""What a built-in script declares about itself: title, runner, and its parameters with widgets.

The UI builds a script's widgets from `params` and the request's `script_args` from their
values (A1111's order: a leading label, then the parameters), so no UI file hard-codes a
script's controls; the API lists and dispatches scripts by the same declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modules.engine.validation import InvalidRequestError


@dataclass(frozen=True)
class ScriptParam:
    """One parameter: its name, A1111's label, the widget kind and its range or choices."""

    name: str
    label: str
    kind: str  # "slider" | "checkboxes" | "radio"
    default: Any
    minimum: float = 0
    maximum: float = 1
    step: float = 1
    choices: tuple[str, ...] = ()
    integer: bool = False
    choices_of: Callable[[Any], tuple[str, ...]] | None = None  # runtime -> choices (lists that change)

    def coerce(self, value: Any) -> Any:
        """The widget's value as the script takes it; a clear error names the parameter."""
        if self.kind == "checkboxes":
            return [str(v) for v in (value or ())]
        if self.kind == "radio":
            return str(value if value is not None else self.default)
        try:
            number = float(value)
        except (TypeError, ValueError) as e:
            raise InvalidRequestError(f"{self.label} must be a number, got {value!r}") from e
        return int(number) if self.integer else number


@dataclass(frozen=True)
class ScriptDeclaration:
    title: str  # as A1111 shows it ("Outpainting mk2")
    run: Callable[..., Any]  # (req, ctx, control) -> GenerationResult
    params: tuple[ScriptParam, ...] = ()
    img2img_only: bool = False
    field_prefix: str = ""  # UI form keys are f"{field_prefix}_{param.name}"

    @property
    def key(self) -> str:
        return self.title.lower()

    def field(self, param: ScriptParam) -> str:
        return f"{self.field_prefix}_{param.name}"

    def script_args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """A1111-ordered `script_args` from the UI values keyed by `field(param)`."""
        return ("", *(p.coerce(values.get(self.field(p), p.default)) for p in self.params))
