"""The `Alert` a run-to-run rule raises (`rules.py`), how urgent it is, and which of a run's
alerts survive its false discovery control. Pure."""

from __future__ import annotations

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.effects import reaches
from bot.domain.models import Cluster
from bot.domain.stats import benjamini_hochberg
from bot.domain.thresholds import Thresholds

CRITICAL_ERROR_RATE = 0.5
WARNING_THRESHOLD_FACTOR = 2.0
"""Share-based alerts (size, new, vanished, outliers, pass rate, failing evaluations) are
warnings at this multiple of their threshold, info below it."""


def significant(alerts: list[Alert], tests: int, t: Thresholds) -> list[Alert]:
    """Keep the alerts without a test, and those whose p-value survives Benjamini-Hochberg
    over every share test of the run (`tests` of them, most of which moved too little to be
    candidates and count as p = 1)."""
    tested = [a for a in alerts if a.p_value is not None]
    padding = [1.0] * max(0, tests - len(tested))
    keep = benjamini_hochberg(
        [a.p_value or 1.0 for a in tested] + padding, t.false_discovery_pct / 100
    )
    kept = {a.key for a, ok in zip(tested, keep, strict=False) if ok}
    return [a for a in alerts if a.p_value is None or a.key in kept]


def error_severity(rate: float) -> Severity:
    return Severity.CRITICAL if reaches(rate, CRITICAL_ERROR_RATE) else Severity.WARNING


def share_severity(change: float, threshold_points: float) -> Severity:
    escalated = reaches(change, WARNING_THRESHOLD_FACTOR * threshold_points / 100)
    return Severity.WARNING if escalated else Severity.INFO


def matched_alert(
    diff: RunDiff,
    match: ClusterMatch,
    kind: AlertKind,
    severity: Severity,
    before: float,
    after: float,
    items: tuple[int | None, int | None] | None = None,
    p_value: float | None = None,
) -> Alert:
    """An alert on a matched cluster; `items` default to the clusters' items with data."""
    if items is None:
        items = (
            match.previous.metrics.item_count if match.previous.metrics else None,
            match.current.metrics.item_count if match.current.metrics else None,
        )
    return make_alert(
        diff,
        kind,
        severity,
        previous=match.previous,
        current=match.current,
        before=before,
        after=after,
        items_before=items[0],
        items_after=items[1],
        p_value=p_value,
        match_confidence=match.confidence,
        match_basis=match.basis,
    )


def make_alert(
    diff: RunDiff,
    kind: AlertKind,
    severity: Severity,
    *,
    previous: Cluster | None = None,
    current: Cluster | None = None,
    before: float | None = None,
    after: float | None = None,
    items_before: int | None = None,
    items_after: int | None = None,
    p_value: float | None = None,
    match_confidence: float | None = None,
    match_basis: str | None = None,
) -> Alert:
    titled = current if current is not None else previous
    return Alert(
        kind=kind,
        severity=severity,
        cluster_id=current.cluster_id if current is not None else None,
        previous_cluster_id=previous.cluster_id if previous is not None else None,
        title=titled.title if titled is not None else "",
        current_run_id=diff.current.run_id,
        previous_run_id=diff.previous.run_id,
        before=before,
        after=after,
        items_before=items_before,
        items_after=items_after,
        p_value=p_value,
        match_confidence=match_confidence,
        match_basis=match_basis,
        test="two-proportion test" if p_value is not None else None,
    )
