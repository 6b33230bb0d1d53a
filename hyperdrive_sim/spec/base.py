"""Base classes of every spec: frozen, unknown keys rejected, parameters with sources."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from hyperdrive_sim.errors import did_you_mean

# strict: YAML's `true` or "3" is not silently a number (an int is still a valid float)
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegInt = Annotated[int, Field(ge=0, strict=True)]
Positive = Annotated[float, Field(gt=0, strict=True)]
NonNeg = Annotated[float, Field(ge=0, strict=True)]


def number(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    """A strict float (ints allowed, no bool or str) with bounds from ``limits``."""
    return Annotated[float, Field(gt=gt, ge=ge, le=le, strict=True)]


def integer(*, gt: int | None = None, ge: int | None = None, le: int | None = None) -> Any:
    """A strict int (no bool, str or float) with bounds from ``limits``."""
    return Annotated[int, Field(gt=gt, ge=ge, le=le, strict=True)]


class Spec(BaseModel):
    """Base: frozen, unknown keys rejected with the list of allowed ones, finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = _field_names(cls)
            unknown = [k for k in data if k not in known]
            if unknown:
                allowed = ", ".join(sorted(cls.model_fields))
                raise ValueError(f"unknown key {unknown[0]!r}; allowed keys: {allowed}")
        return data


@cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """A model's field names (``model_fields`` is rebuilt on every access in pydantic 2.11;
    this check runs for every mapping validated)."""
    return frozenset(model.model_fields)


class Range(Spec):
    """Where an assumed value plausibly lies, and why (for sensitivity analysis). The preset
    value normally lies inside; a value set by the user drops the range of the preset."""

    low: float = Field(allow_inf_nan=False, strict=True)
    high: float = Field(allow_inf_nan=False, strict=True)
    why: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        return self


#: keys of a Sourced spec that are not parameters
META = ("name", "sources", "ranges")


class Sourced(Spec):
    """A spec whose numbers each say where they come from, and for assumed numbers, how far
    they might be off (``ranges``)."""

    name: str = "unnamed"
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Provenance of each parameter: a citation, or 'assumption: why'.",
    )
    ranges: dict[str, Range] = Field(
        default_factory=dict,
        description="For assumed numbers: {low, high, why}, the plausible interval that "
        "`hyperdrive-sim sensitivity` samples",
    )

    @field_validator("sources")
    @classmethod
    def _sources_name_fields(cls, value: dict[str, str]) -> dict[str, str]:
        params = [k for k in cls.model_fields if k not in META]
        for key in value:
            if key not in cls.model_fields or key in META:
                raise ValueError(
                    f"sources names unknown parameter {key!r}{did_you_mean(key, params)}"
                )
        return value

    @model_validator(mode="after")
    def _ranges_hold_values(self) -> Sourced:
        for key in self.ranges:
            if key not in type(self).model_fields or key in META:
                params = [k for k in type(self).model_fields if k not in META]
                raise ValueError(
                    f"ranges names unknown parameter {key!r}{did_you_mean(key, params)}"
                )
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"ranges.{key}: only numeric parameters can have a range")
            for end in ("low", "high"):
                problem = _outside_bounds(type(self), key, getattr(self.ranges[key], end), value)
                if problem:
                    raise ValueError(f"ranges.{key}: {end}: {problem}")
        return self


@cache
def _field_adapter(model: type[BaseModel], key: str) -> TypeAdapter:
    """A validator of one field alone: its type and its bounds (``limits``)."""
    info = model.model_fields[key]
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation)


def _outside_bounds(model: type[BaseModel], key: str, end: float, value: Any) -> str | None:
    """Why the range end ``end`` is not a valid value of parameter ``key`` (None if it is):
    the parameter's own type and bounds, so that sensitivity never samples a value the
    parameter would refuse. A whole number stands for an integer parameter's value."""
    if isinstance(value, int):
        if not float(end).is_integer():
            return f"must be a whole number (the parameter is an integer), got {end:g}"
        end = int(end)
    try:
        _field_adapter(model, key).validate_python(end)
    except ValidationError as exc:
        from hyperdrive_sim.spec.loader import describe_error

        return describe_error(exc.errors(include_url=False)[0])
    return None
