"""Minimum effects: how far a value must move before a change is worth an alert. Pure.

A family's effect (`kinds.FAMILIES`) is one of the shapes below, reading its own thresholds
from `Thresholds`; the detectors and the alert lifecycle ask it through `holds`
(`fresh_base.py`), with `direction` +1 for a rise and -1 for a fall.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.domain.thresholds import Thresholds

Effect = Callable[[int, float, float, Thresholds], bool]
"""`(direction, before, after, thresholds) -> bool`: whether `after` is far enough from
`before`."""


def reaches(value: float, threshold: float) -> bool:
    """`value >= threshold`, forgiving float noise so a rule fires *at* its threshold
    (0.0015 / 0.001 is 1.4999999999999998 in binary floating point)."""
    return value >= threshold or math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)


def rise_by(pct: Callable[[Thresholds], float], floor: Callable[[Thresholds], float]) -> Effect:
    """A rise of at least `pct(t)` percent and `floor(t)` in the value's own unit."""

    def effect(direction: int, before: float, after: float, t: Thresholds) -> bool:
        return (
            before > 0
            and reaches(after, before * (1 + pct(t) / 100))
            and reaches(after - before, floor(t))
        )

    return effect


def points(threshold: Callable[[Thresholds], float], *, fall: bool = False) -> Effect:
    """A move of at least `threshold(t)` percentage points: up, or down when `fall`."""

    def effect(direction: int, before: float, after: float, t: Thresholds) -> bool:
        moved = before - after if fall else after - before
        return reaches(moved, threshold(t) / 100)

    return effect


def errors(direction: int, before: float, after: float, t: Thresholds) -> bool:
    """An error rate at or over the line, and risen by the re-alert points."""
    return reaches(after, t.error_rate_pct / 100) and reaches(
        after - before, t.error_rise_points / 100
    )


def share(direction: int, before: float, after: float, t: Thresholds) -> bool:
    """A share grown (or, for `direction` -1, shrunk) by `size_shift_pct` and
    `size_shift_points`."""
    grown, shrunk = (after, before) if direction > 0 else (before, after)
    return reaches(grown, shrunk * (1 + t.size_shift_pct / 100)) and reaches(
        grown - shrunk, t.size_shift_points / 100
    )
