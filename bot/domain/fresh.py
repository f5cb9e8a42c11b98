"""Day-resolution change detection: compare each cluster's fresh slice with its baseline. Pure.

PostHog clusters a sliding 7-day window every day, so consecutive runs share six of their seven
days and a change that starts today reaches the next run through about a seventh of each
cluster's items (reference/alerting.md 2). Comparing whole runs dilutes it sevenfold. Every item
carries its own timestamp, so instead we split each new run:

- the **fresh slice**: the run's items newer than the previous run's window end;
- the **baseline**: the run's older items of the same cluster, together with the items of the
  cluster's predecessor in the previous run (when a match backs the lineage) that this run did
  not sample again.

(`slices.py`; it also cuts the newest half of the fresh day, held against the same hours of
older days, and the last two days, held against the days before them), and test, per cluster
and window, keeping the most significant window (defaults in `Thresholds`):

- **cost, latency**: the median per item, fresh against baseline; a one-sided rank test
  (Mann-Whitney), which heavy tails do not fool; at least x1.5 and $0.0001 (0.5 s).
- **errors**: the share of items with an error; Fisher's exact test, one-sided, right for the
  small counts of a fresh slice; at least 20 % and 10 points more than the baseline.
- **size shift**: the cluster's share of the run's fresh items against its share of the older
  ones; Fisher's exact test, two-sided; at least x1.5 (or 1/1.5) and 2 points.
- **new**: a cluster with no reliable predecessor whose fresh share is at least 3 % and three
  times its older share: its items sit mostly in the fresh slice.
- **traffic stopped**: a fresh share at most a fifth of an older share of at least 3 %.
- **outliers**: the noise cluster's share, one-sided; at least 10 points.

Shares are taken within the one run, so they need no matching across runs and are immune to
the clustering's run-to-run reshuffling. A cluster that disappears altogether (matched by
nothing, not merged) is reported as vanished when it held >= 3 % of the previous run.

Every test of the run counts towards Benjamini-Hochberg at a false discovery rate of 5 %, so 30
clusters x 5 tests do not multiply the noise; an alert needs both: significant and at least the
minimum effect, which is what a channel's thresholds set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.domain.alerts import Alert, AlertKind, Family, Severity, alert_order
from bot.domain.models import ClusterItem
from bot.domain.slices import MIN_SLICE, ClusterSlices, RunSlices, Window
from bot.domain.stats import benjamini_hochberg, count_test, median, rank_test_greater
from bot.domain.thresholds import Thresholds

__all__ = ["Detection", "detect", "holds", "reaches"]

STOPPED_RATIO = 0.2
"""Traffic has stopped, rather than shrunk, when the fresh share is at most this of the older."""
NEW_CONCENTRATION = 3.0
"""A cluster is new traffic when its fresh share is at least this multiple of its older share."""
CRITICAL_COST_RATIO = 3.0
CRITICAL_ERROR_RATE = 0.5
WARNING_LATENCY_RATIO = 3.0
WARNING_SHARE_RATIO = 2.0


# --- minimum effects: shared by detection and by the alert lifecycle ----------------------------


def holds(family: Family, direction: int, before: float, after: float, t: Thresholds) -> bool:
    """Whether `after` differs from `before` by at least the minimum effect of `family`."""
    if family in (Family.COST, Family.LATENCY):
        ratio, floor = (
            (t.cost_spike_pct, t.cost_spike_min_usd)
            if family is Family.COST
            else (t.latency_spike_pct, t.latency_spike_min_seconds)
        )
        return (
            before > 0
            and reaches(after, before * (1 + ratio / 100))
            and reaches(after - before, floor)
        )
    if family is Family.ERRORS:
        return reaches(after, t.error_rate_pct / 100) and reaches(
            after - before, t.error_rise_points / 100
        )
    if family is Family.OUTLIERS:
        return reaches(after - before, t.outlier_growth_points / 100)
    if family is Family.PASS_RATE:
        return reaches(before - after, t.pass_rate_drop_points / 100)
    if family is Family.FAIL_SHARE:
        return reaches(after - before, t.fail_share_growth_points / 100)
    grown, shrunk = (after, before) if direction > 0 else (before, after)
    return reaches(grown, shrunk * (1 + t.size_shift_pct / 100)) and reaches(
        grown - shrunk, t.size_shift_points / 100
    )


def reaches(value: float, threshold: float) -> bool:
    """`value >= threshold`, forgiving float noise so a rule fires *at* its threshold."""
    return value >= threshold or abs(value - threshold) <= 1e-12 + 1e-9 * abs(threshold)


# --- detection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """What one run shows: the alerts that passed, and every cluster's current value per family
    (what the lifecycle compares a lasting change with)."""

    alerts: tuple[Alert, ...]
    observed: dict[tuple[int, Family], float]
    tests: int


@dataclass
class _Candidates:
    slices: RunSlices
    t: Thresholds
    alerts: list[tuple[Alert, float | None]] = field(default_factory=list)
    observed: dict[tuple[int, Family], float] = field(default_factory=dict)
    tests: int = 0

    def add(self, alert: Alert | None, p_value: float | None) -> None:
        if alert is not None:
            self.alerts.append((alert, p_value))


def detect(slices: RunSlices, t: Thresholds) -> Detection:
    """The fresh-slice alerts of one run under `t` (module docstring)."""
    found = _Candidates(slices, t)
    for cs in slices.clusters.values():
        if cs.cluster.is_noise:
            _outliers(found, cs)
            continue
        _per_item(found, cs, Family.COST, lambda i: i.cost)
        _per_item(found, cs, Family.LATENCY, lambda i: i.latency)
        _errors(found, cs)
        _share(found, cs)
    _vanished(found)
    tested = [(a, p) for a, p in found.alerts if p is not None]
    padding = [1.0] * max(0, found.tests - len(tested))
    keep = benjamini_hochberg([p for _, p in tested] + padding, t.false_discovery_pct / 100)
    kept = {a.key for (a, _), ok in zip(tested, keep, strict=False) if ok}
    alerts = [a for a, p in found.alerts if p is None or a.key in kept]
    alerts.sort(key=alert_order)
    return Detection(tuple(alerts), found.observed, found.tests)


def _per_item(
    found: _Candidates,
    cs: ClusterSlices,
    family: Family,
    value: Callable[[ClusterItem], float | None],
) -> None:
    t = found.t
    best: Alert | None = None
    for index, window in enumerate(cs.windows):
        recent, base = _positive(window.recent, value), _positive(window.baseline, value)
        if len(recent) < t.min_fresh_items or len(base) < t.min_items:
            continue
        found.tests += 1
        before, after = median(base), median(recent)
        if index == 0:
            found.observed[(cs.cluster.cluster_id, family)] = after
        if not holds(family, 1, before, after, t):
            continue
        p_value = rank_test_greater(recent, base)
        if best is None or p_value < (best.p_value or 1.0):
            alert = _spike_alert(
                found, cs, family, before, after, (len(base), len(recent)), p_value
            )
            best = alert.model_copy(update={"window": window.name})
    found.add(best, best.p_value if best is not None else None)


def _spike_alert(
    found: _Candidates,
    cs: ClusterSlices,
    family: Family,
    before: float,
    after: float,
    items: tuple[int, int],
    p_value: float,
) -> Alert:
    ratio = after / before
    if family is Family.COST:
        kind = AlertKind.COST_SPIKE
        severity = Severity.CRITICAL if reaches(ratio, CRITICAL_COST_RATIO) else Severity.WARNING
    else:
        kind = AlertKind.LATENCY_SPIKE
        warning = reaches(ratio, WARNING_LATENCY_RATIO)
        severity = Severity.WARNING if warning else Severity.INFO
    alert = _alert(found, cs, kind, severity, before, after, items, p_value)
    return alert.model_copy(update={"test": "rank test"})


def _errors(found: _Candidates, cs: ClusterSlices) -> None:
    t = found.t
    best: Alert | None = None
    for index, window in enumerate(cs.windows):
        recent = [i for i in window.recent if i.has_values]
        base = [i for i in window.baseline if i.has_values]
        if len(recent) < t.min_fresh_items or len(base) < t.min_items:
            continue
        found.tests += 1
        recent_errors = sum(1 for i in recent if (i.errors or 0) > 0)
        base_errors = sum(1 for i in base if (i.errors or 0) > 0)
        before, after = base_errors / len(base), recent_errors / len(recent)
        if index == 0:
            found.observed[(cs.cluster.cluster_id, Family.ERRORS)] = after
        if not holds(Family.ERRORS, 1, before, after, t):
            continue
        p_value = count_test(recent_errors, len(recent), base_errors, len(base))[0]
        if best is not None and p_value >= (best.p_value or 1.0):
            continue
        critical = reaches(after, CRITICAL_ERROR_RATE)
        severity = Severity.CRITICAL if critical else Severity.WARNING
        items = (len(base), len(recent))
        best = _alert(found, cs, AlertKind.ERROR_HEAVY, severity, before, after, items, p_value)
        best = best.model_copy(update={"window": window.name})
    if best is not None:
        found.add(best.model_copy(update={"test": "Fisher's exact test"}), best.p_value)


def _share(found: _Candidates, cs: ClusterSlices) -> None:
    slices = found.slices
    if not slices.usable:
        return
    cid = cs.cluster.cluster_id
    found.observed[(cid, Family.SHARE)] = slices.share(cid, fresh=True)
    best: Alert | None = None
    for window in cs.windows:
        if window.recent_total < MIN_SLICE or window.older_total < MIN_SLICE:
            continue
        found.tests += 1
        alert = _share_alert(found, cs, window)
        if alert is not None and (best is None or (alert.p_value or 1) < (best.p_value or 1)):
            best = alert
    found.add(best, best.p_value if best is not None else None)


def _share_alert(found: _Candidates, cs: ClusterSlices, window: Window) -> Alert | None:
    t = found.t
    recent_total = window.recent_total
    before = window.older / window.older_total
    after = len(window.recent) / recent_total
    direction = 1 if after > before else -1
    reliable = cs.match is not None and cs.match.basis is not None
    if direction > 0 and not reliable and _is_new(before, after, t):
        kind, severity = AlertKind.NEW_CLUSTER, _escalated(after >= 2 * t.new_cluster_pct / 100)
    elif (
        direction < 0
        and reaches(before, t.vanished_cluster_pct / 100)
        and after <= before * STOPPED_RATIO
    ):
        kind, severity = AlertKind.TRAFFIC_STOPPED, Severity.WARNING
    elif holds(Family.SHARE, direction, before, after, t):
        ratio = after / before if direction > 0 else before / max(after, 1e-12)
        kind, severity = AlertKind.SIZE_SHIFT, _escalated(reaches(ratio, WARNING_SHARE_RATIO))
    else:
        return None
    greater, less = count_test(len(window.recent), recent_total, window.older, window.older_total)
    p_value = min(1.0, 2 * (greater if direction > 0 else less))
    items = (window.older, len(window.recent))
    alert = _alert(found, cs, kind, severity, before, after, items, p_value)
    update = {"test": "Fisher's exact test", "direction": direction, "window": window.name}
    return alert.model_copy(update=update)


def _is_new(before: float, after: float, t: Thresholds) -> bool:
    return reaches(after, t.new_cluster_pct / 100) and reaches(after, NEW_CONCENTRATION * before)


def _outliers(found: _Candidates, cs: ClusterSlices) -> None:
    slices, t = found.slices, found.t
    if not slices.usable:
        return
    found.tests += 1
    before, after = slices.share(-1, fresh=False), slices.share(-1, fresh=True)
    found.observed[(-1, Family.OUTLIERS)] = after
    if not holds(Family.OUTLIERS, 1, before, after, t):
        return
    greater, _ = count_test(len(cs.fresh), slices.fresh_total, len(cs.older), slices.older_total)
    severity = _escalated(reaches(after - before, 2 * t.outlier_growth_points / 100))
    items = (len(cs.older), len(cs.fresh))
    alert = _alert(found, cs, AlertKind.OUTLIER_GROWTH, severity, before, after, items, greater)
    found.add(alert.model_copy(update={"test": "Fisher's exact test"}), greater)


def _vanished(found: _Candidates) -> None:
    """A cluster of the previous run that nothing in this run continues (and that did not merge
    into another): no test, the whole cluster is gone. Only between runs that share items,
    else a renamed cluster could not be told from a vanished one."""
    diff, t = found.slices.diff, found.t
    if not reaches(diff.item_overlap, t.min_run_overlap_pct / 100):
        return
    for cluster in diff.vanished:
        share = diff.previous.share(cluster)
        if not reaches(share, t.vanished_cluster_pct / 100):
            continue
        severity = _escalated(reaches(share, 2 * t.vanished_cluster_pct / 100))
        found.add(
            Alert(
                kind=AlertKind.VANISHED_CLUSTER,
                severity=severity,
                cluster_id=None,
                previous_cluster_id=cluster.cluster_id,
                title=cluster.title,
                current_run_id=diff.current.run_id,
                previous_run_id=diff.previous.run_id,
                before=share,
                items_before=cluster.size,
                fresh=True,
                direction=-1,
            ),
            None,
        )


def _alert(
    found: _Candidates,
    cs: ClusterSlices,
    kind: AlertKind,
    severity: Severity,
    before: float,
    after: float,
    items: tuple[int, int],
    p_value: float,
) -> Alert:
    diff, match = found.slices.diff, cs.match
    return Alert(
        kind=kind,
        severity=severity,
        cluster_id=cs.cluster.cluster_id,
        previous_cluster_id=match.previous.cluster_id if match is not None else None,
        title=cs.cluster.title,
        current_run_id=diff.current.run_id,
        previous_run_id=diff.previous.run_id,
        before=before,
        after=after,
        items_before=items[0],
        items_after=items[1],
        p_value=p_value,
        match_confidence=match.confidence if match is not None else None,
        match_basis=match.basis if match is not None else None,
        fresh=True,
    )


def _positive(
    items: Iterable[ClusterItem], value: Callable[[ClusterItem], float | None]
) -> list[float]:
    """PostHog's averages count only items with a value above zero (posthog/metrics.py)."""
    return [v for v in (value(i) for i in items) if v is not None and v > 0]


def _escalated(condition: bool) -> Severity:
    return Severity.WARNING if condition else Severity.INFO
