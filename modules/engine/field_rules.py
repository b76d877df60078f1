"""Value rules of request fields: declared once per field in the field table, run by validation.

A rule says what values a field takes and the message when a value does not fit (the message
names the field and the fix, as the UI shows it beside the form and the API answers it as a
422). A rule marked `in_schema` is also a bound of the API model's JSON schema (pydantic
`ge`/`le`), so the API refuses it before the request is read and `/openapi.json` documents it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[str], Any]  # field name -> value (a request's attribute or an API body's value)
Condition = Callable[[Any, Lookup], bool]  # (value, lookup) -> whether the rule applies


@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every rule shares: for which modes and when it applies, and its group."""

    modes: frozenset[str] | None = None  # None: every mode whose body carries the field
    when: Condition | None = None  # a condition on the value or on other fields
    group: str = ""  # rules of one feature ("hires") can be run alone by that feature
    in_schema: bool = False  # also a bound of the API model's schema

    def applies(self, mode: str, value: Any, lookup: Lookup) -> bool:
        if value is None or (self.modes is not None and mode not in self.modes):
            return False
        return self.when is None or bool(self.when(value, lookup))

    def problem(self, name: str, value: Any, limits: Mapping[str, Any]) -> str | None:
        """The message for a value this rule refuses, else None; each rule kind (Range, Choice, ...) says."""
        raise NotImplementedError

    def schema_bounds(self) -> dict[str, Any]:
        """pydantic `Field` keywords for the API model (only for rules marked `in_schema`)."""
        return {}


@dataclass(frozen=True, kw_only=True)
class Range(Rule):
    """low <= value <= high (either end may be open). `high` may name a per-request limit
    ("max_steps": the `max_sampling_steps` setting). The message may use {name}, {value},
    {low} and {high}."""

    low: float | None = None
    high: float | str | None = None
    message: str = "{name} must be between {low} and {high}, got {value}"

    def problem(self, name: str, value: Any, limits: Mapping[str, Any]) -> str | None:
        high = limits[self.high] if isinstance(self.high, str) else self.high
        if (self.low is None or value >= self.low) and (high is None or value <= high):
            return None
        return self.message.format(name=name, value=value, low=self.low, high=high)

    def schema_bounds(self) -> dict[str, Any]:
        if not self.in_schema:
            return {}
        bounds = {"ge": self.low} if self.low is not None else {}
        return bounds | ({"le": self.high} if self.high is not None and not isinstance(self.high, str) else {})


@dataclass(frozen=True, kw_only=True)
class MultipleOf(Rule):
    """value % step == 0; {lower} in the message is the nearest allowed value below."""

    step: int
    message: str = "{name} must be a multiple of {step}, got {value} (try {lower})"

    def problem(self, name: str, value: Any, limits: Mapping[str, Any]) -> str | None:
        if value % self.step == 0:
            return None
        return self.message.format(name=name, value=value, step=self.step, lower=value - value % self.step)


@dataclass(frozen=True, kw_only=True)
class Choice(Rule):
    """An index into `options` (A1111 sends radio choices as their index); {listing} in the
    message is "0 first, 1 second, ..."."""

    options: tuple[str, ...]
    message: str = "{name} must be one of {listing}; got {value!r}"

    def problem(self, name: str, value: Any, limits: Mapping[str, Any]) -> str | None:
        if not isinstance(value, bool) and isinstance(value, int) and 0 <= value < len(self.options):
            return None
        listing = ", ".join(f"{i} {option}" for i, option in enumerate(self.options))
        return self.message.format(name=name, value=value, listing=listing)

    def schema_bounds(self) -> dict[str, Any]:
        return {"ge": 0, "le": len(self.options) - 1} if self.in_schema else {}


def finite_problem(name: str, value: Any) -> str | None:
    """NaN or infinity in a number field (JSON readers and UI number boxes can produce them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be a finite number, got {value}"
    return None


def positive(value: Any, lookup: Lookup) -> bool:
    """Condition for fields where 0 or less means "off" (seed resize)."""
    return value > 0


def hires_on(value: Any, lookup: Lookup) -> bool:
    """Condition for the hires-fix fields: checked only when hires fix is on."""
    return bool(lookup("enable_hr"))


def hires_scale_used(value: Any, lookup: Lookup) -> bool:
    """hr_scale counts only when no target size (hr_resize_x/y) is given."""
    return hires_on(value, lookup) and not (lookup("hr_resize_x") or lookup("hr_resize_y"))
