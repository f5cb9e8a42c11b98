"""The words of an alert: what changed, what the numbers rest on, and a value in its unit.

Plain text: the templates escape it where it is used. What each kind says is in its
`KindSpec.words` (`bot/domain/kinds.py`); this module only fills the placeholders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.domain.alerts import Alert
from bot.domain.kinds import FAMILIES, Family, Unit
from bot.domain.lifecycle import Phase
from bot.rendering.env import change, money, number, pct, points, seconds

UNIT_FORMATS: Mapping[Unit, Callable[[float | None], str]] = {
    Unit.USD: money,
    Unit.SECONDS: seconds,
    Unit.FRACTION: pct,
    Unit.COUNT: number,
}

ENDINGS = {
    Phase.RESOLVED: "back to normal",
    Phase.ACCEPTED: "is the new normal",
    Phase.GONE: "ended: the cluster is gone",
    Phase.STILL: "still changed",
}

_WINDOW_WORDS = {"fresh": "newer than the previous run"}


def describe(alert: Alert) -> str:
    """One line saying what changed and by how much (plain text; escaped by the template)."""
    spec = alert.kind.spec
    hours = alert.fresh and alert.window is not None and _is_hours(alert.window)
    words = spec.words.pick(fresh=alert.fresh, hours=hours)
    fmt = UNIT_FORMATS[spec.unit]
    before, after = alert.before, alert.after
    return words.format(
        before=fmt(before),
        after=fmt(after),
        change=change(before, after),
        points=points((after or 0) - (before or 0)),
        hours=f" {alert.window}" if hours else "",
        moved=f", {alert.part} rose" if alert.part else "",
        relative=_relative(alert.relative),
    )


def against_the_rest(alert: Alert, hours: str = "") -> str:
    """How a share moved against the rest of the traffic, in plain words: "Grew about x3
    against the rest of the traffic", "About a third of its usual traffic against the rest"."""
    numbers = f" ({pct(alert.before)} of the older items, {pct(alert.after)} of the new ones)"
    return f"{_relative(alert.relative)}{hours}{numbers}"


def _relative(ratio: float | None) -> str:
    if ratio is None:
        return "Grew from next to nothing against the rest of the traffic"
    if ratio >= 1:
        return f"Grew about ×{ratio:.2g} against the rest of the traffic"
    return f"About {_fraction(ratio)} of its usual traffic against the rest"


def _fraction(ratio: float) -> str:
    for value, words in ((1 / 2, "half"), (1 / 3, "a third"), (1 / 4, "a quarter")):
        if abs(ratio - value) <= 0.04:
            return words
    return f"{ratio:.0%}"


def _is_hours(window: str) -> bool:
    """A window in words ("since 14:00 UTC"); the whole day goes without saying."""
    return window.startswith("since")


def explain(alert: Alert, noun: str = "items") -> str:
    """What the numbers rest on: the items compared (`noun`: what the run's items are called),
    the test, and what ties the cluster to its predecessor."""
    spec = alert.kind.spec
    parts = []
    if alert.fresh and alert.items_after is not None:
        window = alert.window or "fresh"
        recent = window if _is_hours(window) else _WINDOW_WORDS.get(window, _WINDOW_WORDS["fresh"])
        family = alert.kind.family
        shares = family is not None and FAMILIES[family].composition
        like = " from the same hours" if shares and _is_hours(window) else ""
        older = f"{alert.items_before or 0} older ones{like}"
        parts.append(f"{alert.items_after} {noun} {recent} vs {older}")
    elif spec.counted:
        parts.append(f"{spec.counted}: {alert.items_before or 0} → {alert.items_after or 0}")
    elif alert.items_before is not None or alert.items_after is not None:
        with_data = "" if noun == "evaluations" else " with data"
        parts.append(f"{noun}{with_data}: {alert.items_before or 0} → {alert.items_after or 0}")
    if alert.p_value is not None:
        parts.append(f"{alert.test or 'test'} p = {alert.p_value:.2g}")
    if alert.match_basis is not None:
        basis = alert.match_basis.replace("items", noun)  # "shared items" of the two runs
        parts.append(f"matched to the previous run by {basis}")
    elif alert.cluster_id is not None and not spec.no_past:
        parts.append("no reliable match in the previous run")
    return " · ".join(parts) or "Judged against this channel's thresholds (`/clusters thresholds`)."


def family_value(family: Family, value: float) -> str:
    """A value of `family` in its unit: "$0.0120", "2.4 s", "12.5%"."""
    return UNIT_FORMATS[FAMILIES[family].unit](value)


def family_noun(family: Family) -> str:
    """What a family's changes are about: "cost per item", "share of traffic"."""
    return FAMILIES[family].noun
