"""What the fresh-slice tests share: minimum effects, the run's candidate alerts, and the words
for the hours an alert rests on. Pure (`fresh.py` for the rules)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from bot.domain.alerts import Alert, AlertKind, Family, Severity
from bot.domain.effects import reaches as reaches  # the fresh tests import it from here
from bot.domain.kinds import FAMILIES
from bot.domain.models import ClusterItem
from bot.domain.slices import ClusterSlices, RunSlices
from bot.domain.thresholds import Thresholds

T = TypeVar("T")


def holds(family: Family, direction: int, before: float, after: float, t: Thresholds) -> bool:
    """Whether `after` differs from `before` by at least the minimum effect of `family`
    (`kinds.FAMILIES`, `effects.py`)."""
    return FAMILIES[family].effect(direction, before, after, t)


@dataclass(frozen=True, slots=True)
class TestFailure:
    """A test that raised instead of answering: it costs that test, not the run's other alerts
    (`fresh.detect`); the alert cycle logs it, counts it and shows it in the Home tab."""

    cluster_id: int | None
    test: str
    error: str

    def __str__(self) -> str:
        where = f"cluster {self.cluster_id}" if self.cluster_id is not None else "the run"
        return f"{self.test} test of {where}: {self.error}"


@dataclass
class Candidates:
    """One run's findings as the tests make them: alerts with their corrected p-values (`None`
    for the untested kinds), each cluster's current value per family, the number of tests
    (one per cluster and family) for Benjamini-Hochberg, and the tests that failed."""

    slices: RunSlices
    t: Thresholds
    alerts: list[tuple[Alert, float | None]] = field(default_factory=list)
    observed: dict[tuple[int, Family], float] = field(default_factory=dict)
    tests: int = 0
    failures: list[TestFailure] = field(default_factory=list)
    _once: dict[Callable[[RunSlices], Any], Any] = field(default_factory=dict)

    def add(self, alert: Alert | None, p_value: float | None) -> None:
        if alert is not None:
            self.alerts.append((alert, p_value))

    def once(self, make: Callable[[RunSlices], T]) -> T:
        """`make(self.slices)`, computed once per run and kept: what several tests read, such as
        the share tests' composition (`fresh_shares.Composition.of`), inside the first test
        that asks (so a failure costs that test alone)."""
        if make not in self._once:
            self._once[make] = make(self.slices)
        return cast(T, self._once[make])

    def alert(
        self,
        cs: ClusterSlices,
        kind: AlertKind,
        severity: Severity,
        values: tuple[float, float],
        items: tuple[int, int],
        p_value: float,
        since: datetime,
        **update: object,
    ) -> Alert:
        diff, match = self.slices.diff, cs.match
        # The value tests read the assigned items with the sampled ones; shares (a family of
        # the run's composition) count the sampled items only (slices.py).
        valued = kind.family is not None and not FAMILIES[kind.family].composition
        return Alert(
            kind=kind,
            severity=severity,
            cluster_id=cs.cluster.cluster_id,
            previous_cluster_id=match.previous.cluster_id if match is not None else None,
            title=cs.cluster.title,
            current_run_id=diff.current.run_id,
            previous_run_id=diff.previous.run_id,
            before=values[0],
            after=values[1],
            items_before=items[0],
            items_after=items[1],
            p_value=p_value,
            match_confidence=match.confidence if match is not None else None,
            match_basis=match.basis if match is not None else None,
            fresh=True,
            window=hours_words(since, self.slices.cutoff),
            since=since,
            assigned_items=min(cs.assigned_since(since), items[1]) if valued else 0,
            **update,
        )


def hours_words(since: datetime, cutoff: datetime) -> str:
    """The hours an alert rests on, in words: "over the whole day" (the whole fresh slice),
    "since 14:00 UTC" (a cut point of the scan, or the last item of stopped traffic), or
    "since Jun 16 00:15 UTC" (the last two days)."""
    if since == cutoff:
        return "over the whole day"
    if since < cutoff or since - cutoff >= timedelta(days=1):
        return f"since {since:%b %d %H:%M} UTC"
    return f"since {since:%H:%M} UTC"


def positive(
    items: Sequence[ClusterItem], value: Callable[[ClusterItem], float | None]
) -> tuple[float, ...]:
    """PostHog's averages count only items with a value above zero (posthog/metrics.py).

    Each cluster's baseline is read by every look of every value test (a few dozen times a
    run), so the last results are kept by the identity of the items and the value: the entry
    holds the items themselves, so their id cannot be reused while it is kept."""
    if not isinstance(items, tuple):
        return tuple(v for v in map(value, items) if v is not None and v > 0)
    key = (id(items), value)
    kept = _POSITIVE.get(key)
    if kept is not None and kept[0] is items:
        return kept[1]
    found = tuple(v for v in map(value, items) if v is not None and v > 0)
    if len(_POSITIVE) >= _POSITIVE_KEPT:
        _POSITIVE.clear()
    _POSITIVE[key] = (items, found)
    return found


_POSITIVE_KEPT = 512
_POSITIVE: dict[tuple[int, object], tuple[tuple[ClusterItem, ...], tuple[float, ...]]] = {}


def escalated(condition: bool) -> Severity:
    return Severity.WARNING if condition else Severity.INFO


WHOLE_DAY, LATER_CUTS, TWO_DAYS = 0.4, 0.4, 0.2
"""Weights of a scan's looks (weighted Bonferroni, which keeps the family-wise level for any
fixed weights summing to 1): a change that starts at a random hour fills most of the fresh day
more often than not, so the whole day gets the largest share; the later cut points share
theirs (a change that starts late); the last two days get the rest (a change that began on the
previous run's day, seen again with both days' items). Looks without enough items drop out
and the others' weights are scaled up, which depends on the counts alone."""


def look_weights(
    starts: list[datetime], cutoff: datetime, two_days: datetime | None
) -> list[float]:
    """The weights of the looks starting at `starts` (`WHOLE_DAY` and so on), summing to 1."""
    later = sum(1 for s in starts if s > cutoff)
    raw = [
        WHOLE_DAY if s == cutoff else TWO_DAYS if s == two_days else LATER_CUTS / later
        for s in starts
    ]
    total = sum(raw)
    return [w / total for w in raw] if total else []


def weighted(p_value: float, weight: float) -> float:
    """A look's p-value in the weighted Bonferroni correction: p / w, at most 1."""
    return min(1.0, p_value / weight) if weight > 0 else 1.0
