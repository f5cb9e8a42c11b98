"""The building blocks of the run-to-run rules (`rules.py`): a cluster's metrics read safely,
share changes and their joint significance, severities, and the `Alert` a rule raises. Pure."""

from __future__ import annotations

import math

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.models import Cluster, ClusteringRun
from bot.domain.stats import benjamini_hochberg, two_proportion_z_test
from bot.domain.thresholds import Thresholds

CRITICAL_ERROR_RATE = 0.5
WARNING_THRESHOLD_FACTOR = 2.0
"""Share-based alerts (size, new, vanished, outliers) are warnings at this multiple of their
threshold, info below it."""


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


def reaches(value: float, threshold: float) -> bool:
    """`value >= threshold`, forgiving float noise so a rule fires *at* its threshold
    (0.0015 / 0.001 is 1.4999999999999998 in binary floating point)."""
    return value >= threshold or math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)


def metric_value(cluster: Cluster, name: str) -> float | None:
    if cluster.metrics is None:
        return None
    value = getattr(cluster.metrics, name)
    if value is None or isinstance(value, str) or not math.isfinite(value):
        return None
    return float(value)


def enough_items(cluster: Cluster, min_items: int) -> bool:
    count = cluster.metrics.item_count if cluster.metrics is not None else None
    return count is not None and count >= min_items


def error_heavy_rate(cluster: Cluster, t: Thresholds) -> float | None:
    """The cluster's error rate if it is over the line with enough items, else `None`."""
    rate = metric_value(cluster, "error_rate")
    if rate is None or not enough_items(cluster, t.min_items):
        return None
    return rate if reaches(rate, t.error_rate_pct / 100) else None


def error_severity(rate: float) -> Severity:
    return Severity.CRITICAL if reaches(rate, CRITICAL_ERROR_RATE) else Severity.WARNING


def share_severity(change: float, threshold_points: float) -> Severity:
    escalated = reaches(change, WARNING_THRESHOLD_FACTOR * threshold_points / 100)
    return Severity.WARNING if escalated else Severity.INFO


def share_change(
    previous_run: ClusteringRun,
    previous: Cluster,
    current_run: ClusteringRun,
    current: Cluster,
    min_points: float,
    t: Thresholds,
) -> tuple[float, float, float] | None:
    """`(before, after, p_value)` when the share moved `min_points`; `evaluate_rules` judges
    the p-values of all share tests of the run together."""
    total_before, total_after = total_items(previous_run), total_items(current_run)
    if total_before <= 0 or total_after <= 0:
        return None
    before, after = previous_run.share(previous), current_run.share(current)
    if not reaches(abs(after - before), min_points / 100):
        return None
    p_value = two_proportion_z_test(before, total_before, after, total_after).p_value
    return before, after, p_value


def total_items(run: ClusteringRun) -> int:
    return run.total_items or sum(c.size for c in run.clusters)


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
