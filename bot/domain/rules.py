"""Run-to-run alert rules over a `RunDiff`: data in, `Alert`s out. Pure.

These compare two whole runs. They are the fallback for runs that have no fresh slice, such as
evaluation runs, whose items all carry the window end as their timestamp; every other run is
judged by `fresh.py`, which sees a change on the first run that contains it.

Each rule has a default in `Thresholds` that a channel can override (`parse_overrides`).
Units: cost in USD per item, latency in seconds per item, error rates and shares as fractions
(0.2 = 20 %); threshold *fields* are in the units their names say (`_pct`, `_points`, `_usd`).

Rules (defaults in brackets) and how severity is derived:

- `cost_spike`: a matched cluster's `avg_cost` rose [50 %] and [$0.001], with [10] items with
  data in both runs. Critical at x3 or more, else warning.
- `error_heavy`: `error_rate` >= [20 %] with [10] items, and either it was below the line in the
  previous run or rose [10] points; also a new cluster over the line. Critical at >= 50 %,
  else warning.
- `latency_spike`: `avg_latency` rose [50 %] and [0.5 s], [10] items in both runs. Warning at
  x3 or more, else info.
- `size_shift`: a matched cluster's share of the run moved [5] points and a two-proportion
  z-test is significant (below). Sizes are sample counts, so the test judges the move against
  sampling noise; the minimum move guards against clustering noise the test does not model.
- `new_cluster`: an unmatched current cluster with share >= [5 %].
- `vanished_cluster`: an unmatched previous cluster whose share was >= [5 %].
- `outlier_growth`: the noise share rose [10] points, significantly.
- `pass_rate_drop` (evaluation runs): a matched cluster's pass rate fell [10] points,
  significantly, with [10] evaluations in both runs.
- `fail_share_growth` (evaluation runs): a matched cluster's share of the run's failing
  evaluations rose [10] points, significantly, with [10] failing evaluations in both runs
  (`evaluations.py`).
- Significance: the share tests of one run are judged together by Benjamini-Hochberg at a
  false discovery rate of [5 %].
- New and vanished clusters are not reported at all when the runs share fewer than [5 %] of
  their clustered items (`RunDiff.item_overlap`): such runs are a week or more apart and their
  clusters can only be matched by title, so most "new" clusters are renamed old ones.
- Severity of the share-based kinds (`size_shift`, `new_cluster`, `vanished_cluster`,
  `outlier_growth`, `pass_rate_drop`, `fail_share_growth`): warning at 2x their threshold (a
  10-point move, a 10 % cluster), else info.

A cluster that is error-heavy but not newly so (it was already over the line and rose less than
the rise threshold, or the previous run has no error rate to compare with) is not alerted; it
is returned in `RuleResult.still_error_heavy` so the run summary can mention it. A metric that
is `None` in a run a rule needs never fires that rule. Alerts are ordered most severe first,
then by kind (the order of `AlertKind`), then by size of the change.
"""

from __future__ import annotations

import math

from bot.domain.alerts import Alert, AlertKind, Family, Severity, alert_order
from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.evaluations import fail_share, fail_share_growth, run_failing
from bot.domain.fresh import Detection
from bot.domain.models import Cluster, ClusteringRun, Frozen
from bot.domain.stats import benjamini_hochberg, two_proportion_z_test
from bot.domain.thresholds import Thresholds, ThresholdSpec, parse_override_pairs, parse_overrides

__all__ = [
    "Alert",
    "AlertKind",
    "RuleResult",
    "Severity",
    "ThresholdSpec",
    "Thresholds",
    "evaluate_rules",
    "parse_override_pairs",
    "parse_overrides",
]

CRITICAL_COST_RATIO = 3.0
CRITICAL_ERROR_RATE = 0.5
WARNING_LATENCY_RATIO = 3.0
WARNING_THRESHOLD_FACTOR = 2.0
"""Share-based alerts (size, new, vanished, outliers) are warnings at this multiple of their
threshold, info below it."""


class RuleResult(Frozen):
    alerts: tuple[Alert, ...] = ()
    still_error_heavy: tuple[Cluster, ...] = ()


def evaluate_rules(diff: RunDiff, thresholds: Thresholds) -> RuleResult:
    """Every alert for `diff` under `thresholds`, most severe first (module docstring)."""
    alerts: list[Alert] = []
    still: list[Cluster] = []
    for match in diff.matches:
        alerts.extend(_spikes(diff, match, thresholds))
        heavy = _error_heavy_matched(diff, match, thresholds)
        if isinstance(heavy, Alert):
            alerts.append(heavy)
        elif heavy is not None:
            still.append(heavy)
        alerts.extend(_size_shift(diff, match, thresholds))
        alerts.extend(_pass_rate_drop(diff, match, thresholds))
        alerts.extend(_fail_share_growth(diff, match, thresholds))
    comparable = _reaches(diff.item_overlap, thresholds.min_run_overlap_pct / 100)
    for cluster in diff.new:
        alerts.extend(_new_cluster(diff, cluster, thresholds, comparable))
    if comparable:
        for cluster in diff.vanished:
            alerts.extend(_vanished_cluster(diff, cluster, thresholds))
    alerts.extend(_outlier_growth(diff, thresholds))
    share_tests = len(diff.matches) + (1 if diff.noise is not None else 0)
    # pass rate and fail share: one test each per evaluation cluster
    share_tests += 2 * sum(1 for m in diff.matches if _metric(m.current, "pass_rate") is not None)
    alerts = _significant(alerts, share_tests, thresholds)
    alerts.sort(key=alert_order)
    still.sort(key=lambda c: (-(_metric(c, "error_rate") or 0.0), c.cluster_id))
    return RuleResult(alerts=tuple(alerts), still_error_heavy=tuple(still))


def detect_run_to_run(diff: RunDiff, thresholds: Thresholds) -> Detection:
    """`evaluate_rules` as a `Detection`, with each cluster's whole-run values as what the alert
    lifecycle follows."""
    observed: dict[tuple[int, Family], float] = {}
    failing_total = run_failing(diff.current)
    for cluster in diff.current.clusters:
        family = Family.OUTLIERS if cluster.is_noise else Family.SHARE
        observed[(cluster.cluster_id, family)] = diff.current.share(cluster)
        for metric, family in _OBSERVED_METRICS:
            value = _metric(cluster, metric)
            if value is not None:
                observed[(cluster.cluster_id, family)] = value
        failing = fail_share(diff.current, cluster, failing_total)
        if failing is not None:
            observed[(cluster.cluster_id, Family.FAIL_SHARE)] = failing
    result = evaluate_rules(diff, thresholds)
    return Detection(result.alerts, observed, tests=len(diff.matches))


_OBSERVED_METRICS = (
    ("avg_cost", Family.COST),
    ("avg_latency", Family.LATENCY),
    ("error_rate", Family.ERRORS),
    ("pass_rate", Family.PASS_RATE),
)


# --- rules -------------------------------------------------------------------------------------


def _spikes(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> list[Alert]:
    alerts = []
    cost = _spike(match, "avg_cost", t.cost_spike_pct, t.cost_spike_min_usd, t.min_items)
    if cost is not None:
        before, after = cost
        critical = _reaches(after / before, CRITICAL_COST_RATIO)
        severity = Severity.CRITICAL if critical else Severity.WARNING
        alerts.append(_matched_alert(diff, match, AlertKind.COST_SPIKE, severity, before, after))
    latency = _spike(
        match, "avg_latency", t.latency_spike_pct, t.latency_spike_min_seconds, t.min_items
    )
    if latency is not None:
        before, after = latency
        warning = _reaches(after / before, WARNING_LATENCY_RATIO)
        severity = Severity.WARNING if warning else Severity.INFO
        alerts.append(_matched_alert(diff, match, AlertKind.LATENCY_SPIKE, severity, before, after))
    return alerts


def _spike(
    match: ClusterMatch, metric: str, pct: float, min_rise: float, min_items: int
) -> tuple[float, float] | None:
    """`(before, after)` when `metric` rose by `pct` percent and `min_rise`, with enough items."""
    before, after = _metric(match.previous, metric), _metric(match.current, metric)
    if before is None or after is None or before <= 0:
        return None
    if not (_enough_items(match.previous, min_items) and _enough_items(match.current, min_items)):
        return None
    if _reaches(after, before * (1 + pct / 100)) and _reaches(after - before, min_rise):
        return before, after
    return None


def _error_heavy_matched(
    diff: RunDiff, match: ClusterMatch, t: Thresholds
) -> Alert | Cluster | None:
    """An alert, or the cluster itself when it is error-heavy but not newly so, or `None`."""
    after = _error_heavy_rate(match.current, t)
    if after is None:
        return None
    before = _metric(match.previous, "error_rate")
    if before is None:
        return match.current
    newly = not _reaches(before, t.error_rate_pct / 100)
    if newly or _reaches(after - before, t.error_rise_points / 100):
        return _matched_alert(
            diff, match, AlertKind.ERROR_HEAVY, _error_severity(after), before, after
        )
    return match.current


def _size_shift(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> list[Alert]:
    test = _share_change(
        diff.previous, match.previous, diff.current, match.current, t.size_shift_points, t
    )
    if test is None:
        return []
    before, after, p_value = test
    severity = _share_severity(abs(after - before), t.size_shift_points)
    return [
        _matched_alert(
            diff,
            match,
            AlertKind.SIZE_SHIFT,
            severity,
            before,
            after,
            items=(match.previous.size, match.current.size),
            p_value=p_value,
        )
    ]


def _pass_rate_drop(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> list[Alert]:
    """Evaluation clusters: the share of passing verdicts fell `pass_rate_drop_points`, judged
    against sampling noise like a share (verdicts are counts of the cluster's evaluations)."""
    before, after = _metric(match.previous, "pass_rate"), _metric(match.current, "pass_rate")
    items = (_items(match.previous), _items(match.current))
    if before is None or after is None or items[0] < t.min_items or items[1] < t.min_items:
        return []
    if not _reaches(before - after, t.pass_rate_drop_points / 100):
        return []
    p_value = two_proportion_z_test(before, items[0], after, items[1]).p_value
    severity = _share_severity(before - after, t.pass_rate_drop_points)
    return [
        _matched_alert(
            diff, match, AlertKind.PASS_RATE_DROP, severity, before, after, items, p_value
        ).model_copy(update={"direction": -1})
    ]


def _fail_share_growth(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> list[Alert]:
    """Evaluation clusters: the cluster's share of the run's failing evaluations rose
    `fail_share_growth_points` (`evaluations.py`). Severity as for the other share kinds."""
    grown = fail_share_growth(diff, match, t)
    if grown is None:
        return []
    severity = _share_severity(grown.after - grown.before, t.fail_share_growth_points)
    items = (grown.failing_before, grown.failing_after)
    return [
        _matched_alert(
            diff,
            match,
            AlertKind.FAIL_SHARE_GROWTH,
            severity,
            grown.before,
            grown.after,
            items,
            grown.p_value,
        )
    ]


def _items(cluster: Cluster) -> int:
    count = cluster.metrics.item_count if cluster.metrics is not None else None
    return count if count is not None else len(cluster.items)


def _new_cluster(diff: RunDiff, cluster: Cluster, t: Thresholds, comparable: bool) -> list[Alert]:
    """A new-cluster alert if the runs are comparable; an error-heavy one in any case (it is
    about the cluster's state, and a cluster with no match has no baseline)."""
    alerts = []
    share = diff.current.share(cluster)
    if comparable and _reaches(share, t.new_cluster_pct / 100):
        alerts.append(
            _alert(
                diff,
                AlertKind.NEW_CLUSTER,
                _share_severity(share, t.new_cluster_pct),
                current=cluster,
                after=share,
                items_after=cluster.size,
            )
        )
    rate = _error_heavy_rate(cluster, t)
    if rate is not None:
        items = cluster.metrics.item_count if cluster.metrics else None
        alerts.append(
            _alert(
                diff,
                AlertKind.ERROR_HEAVY,
                _error_severity(rate),
                current=cluster,
                after=rate,
                items_after=items,
            )
        )
    return alerts


def _vanished_cluster(diff: RunDiff, cluster: Cluster, t: Thresholds) -> list[Alert]:
    share = diff.previous.share(cluster)
    if not _reaches(share, t.vanished_cluster_pct / 100):
        return []
    severity = _share_severity(share, t.vanished_cluster_pct)
    return [
        _alert(
            diff,
            AlertKind.VANISHED_CLUSTER,
            severity,
            previous=cluster,
            before=share,
            items_before=cluster.size,
        )
    ]


def _outlier_growth(diff: RunDiff, t: Thresholds) -> list[Alert]:
    noise = diff.noise
    if noise is None or noise.previous is None or noise.current is None:
        return []
    test = _share_change(
        diff.previous, noise.previous, diff.current, noise.current, t.outlier_growth_points, t
    )
    if test is None or test[1] < test[0]:
        return []
    before, after, p_value = test
    return [
        _alert(
            diff,
            AlertKind.OUTLIER_GROWTH,
            _share_severity(after - before, t.outlier_growth_points),
            previous=noise.previous,
            current=noise.current,
            before=before,
            after=after,
            items_before=noise.previous.size,
            items_after=noise.current.size,
            p_value=p_value,
        )
    ]


# --- helpers -----------------------------------------------------------------------------------


def _significant(alerts: list[Alert], tests: int, t: Thresholds) -> list[Alert]:
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


def _reaches(value: float, threshold: float) -> bool:
    """`value >= threshold`, forgiving float noise so a rule fires *at* its threshold
    (0.0015 / 0.001 is 1.4999999999999998 in binary floating point)."""
    return value >= threshold or math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)


def _metric(cluster: Cluster, name: str) -> float | None:
    if cluster.metrics is None:
        return None
    value = getattr(cluster.metrics, name)
    if value is None or isinstance(value, str) or not math.isfinite(value):
        return None
    return float(value)


def _enough_items(cluster: Cluster, min_items: int) -> bool:
    count = cluster.metrics.item_count if cluster.metrics is not None else None
    return count is not None and count >= min_items


def _error_heavy_rate(cluster: Cluster, t: Thresholds) -> float | None:
    """The cluster's error rate if it is over the line with enough items, else `None`."""
    rate = _metric(cluster, "error_rate")
    if rate is None or not _enough_items(cluster, t.min_items):
        return None
    return rate if _reaches(rate, t.error_rate_pct / 100) else None


def _error_severity(rate: float) -> Severity:
    return Severity.CRITICAL if _reaches(rate, CRITICAL_ERROR_RATE) else Severity.WARNING


def _share_severity(change: float, threshold_points: float) -> Severity:
    escalated = _reaches(change, WARNING_THRESHOLD_FACTOR * threshold_points / 100)
    return Severity.WARNING if escalated else Severity.INFO


def _share_change(
    previous_run: ClusteringRun,
    previous: Cluster,
    current_run: ClusteringRun,
    current: Cluster,
    min_points: float,
    t: Thresholds,
) -> tuple[float, float, float] | None:
    """`(before, after, p_value)` when the share moved `min_points`; `evaluate_rules` judges
    the p-values of all share tests of the run together."""
    total_before, total_after = _total(previous_run), _total(current_run)
    if total_before <= 0 or total_after <= 0:
        return None
    before, after = previous_run.share(previous), current_run.share(current)
    if not _reaches(abs(after - before), min_points / 100):
        return None
    p_value = two_proportion_z_test(before, total_before, after, total_after).p_value
    return before, after, p_value


def _total(run: ClusteringRun) -> int:
    return run.total_items or sum(c.size for c in run.clusters)


def _matched_alert(
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
    return _alert(
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


def _alert(
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
