"""Alert thresholds: defaults, ranges, and a channel's `name=value` overrides. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import ConfigDict, Field, ValidationError

from bot.domain.models import Frozen


class ThresholdSpec(NamedTuple):
    """One threshold as a channel sees it: for `/clusters thresholds` style listings."""

    name: str
    value: float | int
    default: float | int
    minimum: float | int | None
    maximum: float | int | None
    description: str


class Thresholds(Frozen):
    """Alert thresholds. Every field has a default; a channel overrides some by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_spike_pct: float = Field(
        50.0, ge=1, le=10_000, description="Cost spike: rise in average cost per item, percent."
    )
    cost_spike_min_usd: float = Field(
        0.0001, ge=0, le=100, description="Cost spike: minimum rise in cost per item, USD."
    )
    min_items: int = Field(
        10,
        ge=1,
        le=100_000,
        description="Baseline items with data needed before cost, latency or errors count "
        "(items with data in each run, where two whole runs are compared).",
    )
    min_fresh_items: int = Field(
        5,
        ge=1,
        le=100_000,
        description="Items with data newer than the previous run (the fresh slice) needed "
        "before a cluster's cost, latency or errors are judged.",
    )
    error_rate_pct: float = Field(
        20.0, ge=1, le=100, description="Error-heavy: error rate at or above this, percent."
    )
    error_rise_points: float = Field(
        10.0,
        ge=0.1,
        le=100,
        description="Error-heavy: re-alert a cluster already over the line if its error rate "
        "rose this many percentage points.",
    )
    size_shift_points: float = Field(
        2.0,
        ge=0.1,
        le=100,
        description="Size shift: change in a cluster's share of traffic, percentage points "
        "(allowing for the rest of the traffic).",
    )
    size_shift_pct: float = Field(
        50.0,
        ge=1,
        le=10_000,
        description="Size shift: how much a cluster grew or shrank against the rest of the "
        "traffic, percent (50 = grew to 1.5x, or shrank to 1/1.5).",
    )
    false_discovery_pct: float = Field(
        5.0,
        ge=0.01,
        le=50,
        description="Significance: expected percent of false alerts among those reported, over "
        "all the tests of one run (Benjamini-Hochberg).",
    )
    new_cluster_pct: float = Field(
        3.0, ge=0, le=100, description="New cluster: minimum share of new traffic, percent."
    )
    vanished_cluster_pct: float = Field(
        3.0,
        ge=0,
        le=100,
        description="Stopped or vanished cluster: minimum share of traffic before, percent.",
    )
    latency_spike_pct: float = Field(
        50.0, ge=1, le=10_000, description="Latency spike: rise in average latency, percent."
    )
    latency_spike_min_seconds: float = Field(
        0.5, ge=0, le=3_600, description="Latency spike: minimum rise in average latency, seconds."
    )
    min_run_overlap_pct: float = Field(
        5.0,
        ge=0,
        le=100,
        description="New and vanished clusters are only reported when the runs share this "
        "percent of their clustered items; runs further apart can only be matched by title.",
    )
    pass_rate_drop_points: float = Field(
        10.0,
        ge=0.1,
        le=100,
        description="Evaluations: fall in a cluster's pass rate, percentage points.",
    )
    fail_share_growth_points: float = Field(
        10.0,
        ge=0.1,
        le=100,
        description="Evaluations: rise in a cluster's share of the run's failing evaluations, "
        "percentage points.",
    )
    outlier_growth_points: float = Field(
        10.0, ge=0.1, le=100, description="Outlier growth: rise in the noise share, points."
    )

    token_growth_pct: float = Field(
        50.0,
        ge=1,
        le=10_000,
        description="Token growth: rise in median tokens per item, percent.",
    )
    token_growth_min_tokens: float = Field(
        200.0,
        ge=0,
        le=10_000_000,
        description="Token growth: minimum rise in median tokens per item.",
    )

    def with_overrides(self, overrides: Mapping[str, str]) -> Thresholds:
        """A copy with `name -> raw value` overrides applied, all validated.

        Raises `ValueError` with a message fit for the user: the field, its allowed range and
        the value given; for an unknown name, the list of valid names.
        """
        fields = type(self).model_fields
        values: dict[str, Any] = {}
        for name, raw in overrides.items():
            if name not in fields:
                raise ValueError(f"Unknown threshold `{name}`. Valid names: {', '.join(fields)}.")
            values[name] = _parse_value(name, raw)
        try:
            return type(self).model_validate({**self.model_dump(), **values})
        except ValidationError as error:
            name = str(error.errors()[0]["loc"][0])
            raise ValueError(_range_message(name, overrides[name])) from None

    def describe(self) -> tuple[ThresholdSpec, ...]:
        default = type(self)()
        return tuple(
            ThresholdSpec(
                name,
                getattr(self, name),
                getattr(default, name),
                *_bounds(name),
                info.description or "",
            )
            for name, info in type(self).model_fields.items()
        )


def _bounds(name: str) -> tuple[float | int | None, float | int | None]:
    low: float | int | None = None
    high: float | int | None = None
    for constraint in Thresholds.model_fields[name].metadata:
        low = getattr(constraint, "ge", low)
        high = getattr(constraint, "le", high)
    return low, high


def _format_number(value: float | int) -> str:
    return f"{value:g}"


_UNIT_MARKS = {"_pct": "%", "_points": "%", "_usd": "$", "_seconds": "s"}


def _parse_value(name: str, raw: str) -> float | int:
    """Parse one user-typed value for `name`; a trailing `%`, `s` or leading `$` matching the
    field's unit is allowed."""
    text = raw.strip()
    for suffix, mark in _UNIT_MARKS.items():
        if name.endswith(suffix):
            text = text.removeprefix(mark) if mark == "$" else text.removesuffix(mark)
    is_int = Thresholds.model_fields[name].annotation is int
    try:
        value: float | int = int(text) if is_int else float(text)
    except ValueError:
        raise ValueError(_range_message(name, raw)) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(_range_message(name, raw))
    return value


def _range_message(name: str, raw: str) -> str:
    low, high = _bounds(name)
    kind = "a whole number" if Thresholds.model_fields[name].annotation is int else "a number"
    description = Thresholds.model_fields[name].description or ""
    return (
        f"`{name}` must be {kind} from {_format_number(low or 0)} to "
        f"{_format_number(high or 0)}, got `{raw}`. ({description})"
    )
