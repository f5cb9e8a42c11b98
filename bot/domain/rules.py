"""Run-to-run alert rules over a `RunDiff`: data in, `Alert`s out. Pure.

These compare two whole runs. They are the fallback for runs that have no fresh slice, such as
evaluation runs, whose items all carry the window end as their timestamp; every other run is
judged by `fresh.py`, which sees a change on the first run that contains it.

Every threshold named below is a field of `Thresholds` (`thresholds.py` holds its default and
range; a channel overrides it with `/clusters thresholds name=value`). The defaults are not
repeated here, so they cannot drift. Units: cost in USD per item, latency in seconds per item,
error rates and shares as fractions (0.2 = 20 %); threshold *fields* are in the units their
names say (`_pct`, `_points`, `_usd`, `_seconds`).

Rules, and how severity is derived (the severity constants are in this module and in
`run_alerts.py`):

- `cost_spike`: a matched cluster's `avg_cost` rose `cost_spike_pct` percent and
  `cost_spike_min_usd`, with `min_items` items with data in both runs. Critical at
  `CRITICAL_COST_RATIO` times the baseline or more, else warning.
- `error_heavy`: `error_rate` at or over `error_rate_pct` with `min_items` items, and either it
  was below the line in the previous run or rose `error_rise_points`; also a new cluster over
  the line. Critical at `CRITICAL_ERROR_RATE` or more, else warning.
- `latency_spike`: `avg_latency` rose `latency_spike_pct` percent and
  `latency_spike_min_seconds`, with `min_items` items in both runs. Warning at
  `WARNING_LATENCY_RATIO` times the baseline or more, else info.
- `size_shift`: a matched cluster's share of the run moved `size_shift_points` and a
  two-proportion z-test is significant (below). Sizes are sample counts, so the test judges the
  move against sampling noise; the minimum move guards against clustering noise the test does
  not model.
- `new_cluster`: an unmatched current cluster whose share is at least `new_cluster_pct`.
- `vanished_cluster`: an unmatched previous cluster whose share was at least
  `vanished_cluster_pct`.
- `outlier_growth`: the noise share rose `outlier_growth_points`, significantly.
- `pass_rate_drop` (evaluation runs): a matched cluster's pass rate fell
  `pass_rate_drop_points`, significantly, with `min_items` evaluations in both runs.
- `fail_share_growth` (evaluation runs): a matched cluster's share of the run's failing
  evaluations rose `fail_share_growth_points`, significantly, with `min_items` failing
  evaluations in each run (`evaluations.py`).
- Significance: the share tests of one run are judged together by Benjamini-Hochberg at a
  false discovery rate of `false_discovery_pct`.
- New and vanished clusters are not reported at all when the runs share less than
  `min_run_overlap_pct` of their clustered items (`RunDiff.item_overlap`): such runs are a week
  or more apart and their clusters can only be matched by title, so most "new" clusters are
  renamed old ones.
- Severity of the share-based kinds (`size_shift`, `new_cluster`, `vanished_cluster`,
  `outlier_growth`, `pass_rate_drop`, `fail_share_growth`): warning at
  `WARNING_THRESHOLD_FACTOR` times their threshold, else info.

A cluster that is error-heavy but not newly so (it was already over the line and rose less than
the rise threshold, or the previous run has no error rate to compare with) is not alerted; it
is returned in `RuleResult.still_error_heavy` so the run summary can mention it. A metric that
is `None` in a run a rule needs never fires that rule. Alerts are ordered most severe first,
then by kind (the order of `kinds.KINDS`), then by size of the change.
"""

from __future__ import annotations

from bot.domain.alerts import Alert, AlertKind, Family, Severity, alert_order
from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.effects import reaches
from bot.domain.evaluations import fail_share, fail_share_growth, run_failing
from bot.domain.fresh import Detection
from bot.domain.models import Cluster, Frozen
from bot.domain.run_alerts import (
    error_severity,
    make_alert,
    matched_alert,
    share_severity,
    significant,
)
from bot.domain.run_metrics import enough_items, error_heavy_rate, metric_value, share_change
from bot.domain.stats import two_proportion_z_test
from bot.domain.thresholds import Thresholds, ThresholdSpec

__all__ = [
    "Alert",
    "AlertKind",
    "RuleResult",
    "Severity",
    "ThresholdSpec",
    "Thresholds",
    "evaluate_rules",
]

CRITICAL_COST_RATIO = 3.0
WARNING_LATENCY_RATIO = 3.0


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
    comparable = reaches(diff.item_overlap, thresholds.min_run_overlap_pct / 100)
    for cluster in diff.new:
        alerts.extend(_new_cluster(diff, cluster, thresholds, comparable))
    if comparable:
        for cluster in diff.vanished:
            alerts.extend(_vanished_cluster(diff, cluster, thresholds))
    alerts.extend(_outlier_growth(diff, thresholds))
    share_tests = len(diff.matches) + (1 if diff.noise is not None else 0)
    # pass rate and fail share: one test each per evaluation cluster
    share_tests += 2 * sum(
        1 for m in diff.matches if metric_value(m.current, "pass_rate") is not None
    )
    alerts = significant(alerts, share_tests, thresholds)
    alerts.sort(key=alert_order)
    still.sort(key=lambda c: (-(metric_value(c, "error_rate") or 0.0), c.cluster_id))
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
            value = metric_value(cluster, metric)
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
        critical = reaches(after / before, CRITICAL_COST_RATIO)
        severity = Severity.CRITICAL if critical else Severity.WARNING
        alerts.append(matched_alert(diff, match, AlertKind.COST_SPIKE, severity, before, after))
    latency = _spike(
        match, "avg_latency", t.latency_spike_pct, t.latency_spike_min_seconds, t.min_items
    )
    if latency is not None:
        before, after = latency
        warning = reaches(after / before, WARNING_LATENCY_RATIO)
        severity = Severity.WARNING if warning else Severity.INFO
        alerts.append(matched_alert(diff, match, AlertKind.LATENCY_SPIKE, severity, before, after))
    return alerts


def _spike(
    match: ClusterMatch, metric: str, pct: float, min_rise: float, min_items: int
) -> tuple[float, float] | None:
    """`(before, after)` when `metric` rose by `pct` percent and `min_rise`, with enough items."""
    before, after = metric_value(match.previous, metric), metric_value(match.current, metric)
    if before is None or after is None or before <= 0:
        return None
    if not (enough_items(match.previous, min_items) and enough_items(match.current, min_items)):
        return None
    if reaches(after, before * (1 + pct / 100)) and reaches(after - before, min_rise):
        return before, after
    return None


def _error_heavy_matched(
    diff: RunDiff, match: ClusterMatch, t: Thresholds
) -> Alert | Cluster | None:
    """An alert, or the cluster itself when it is error-heavy but not newly so, or `None`."""
    after = error_heavy_rate(match.current, t)
    if after is None:
        return None
    before = metric_value(match.previous, "error_rate")
    if before is None:
        return match.current
    newly = not reaches(before, t.error_rate_pct / 100)
    if newly or reaches(after - before, t.error_rise_points / 100):
        return matched_alert(
            diff, match, AlertKind.ERROR_HEAVY, error_severity(after), before, after
        )
    return match.current


def _size_shift(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> list[Alert]:
    test = share_change(
        diff.previous, match.previous, diff.current, match.current, t.size_shift_points
    )
    if test is None:
        return []
    before, after, p_value = test
    severity = share_severity(abs(after - before), t.size_shift_points)
    return [
        matched_alert(
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
    before = metric_value(match.previous, "pass_rate")
    after = metric_value(match.current, "pass_rate")
    items = (_items(match.previous), _items(match.current))
    if before is None or after is None or items[0] < t.min_items or items[1] < t.min_items:
        return []
    if not reaches(before - after, t.pass_rate_drop_points / 100):
        return []
    p_value = two_proportion_z_test(before, items[0], after, items[1]).p_value
    severity = share_severity(before - after, t.pass_rate_drop_points)
    return [
        matched_alert(
            diff, match, AlertKind.PASS_RATE_DROP, severity, before, after, items, p_value
        ).model_copy(update={"direction": -1})
    ]


def _fail_share_growth(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> list[Alert]:
    """Evaluation clusters: the cluster's share of the run's failing evaluations rose
    `fail_share_growth_points` (`evaluations.py`). Severity as for the other share kinds."""
    grown = fail_share_growth(diff, match, t)
    if grown is None:
        return []
    severity = share_severity(grown.after - grown.before, t.fail_share_growth_points)
    items = (grown.failing_before, grown.failing_after)
    return [
        matched_alert(
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
    if comparable and reaches(share, t.new_cluster_pct / 100):
        alerts.append(
            make_alert(
                diff,
                AlertKind.NEW_CLUSTER,
                share_severity(share, t.new_cluster_pct),
                current=cluster,
                after=share,
                items_after=cluster.size,
            )
        )
    rate = error_heavy_rate(cluster, t)
    if rate is not None:
        items = cluster.metrics.item_count if cluster.metrics else None
        alerts.append(
            make_alert(
                diff,
                AlertKind.ERROR_HEAVY,
                error_severity(rate),
                current=cluster,
                after=rate,
                items_after=items,
            )
        )
    return alerts


def _vanished_cluster(diff: RunDiff, cluster: Cluster, t: Thresholds) -> list[Alert]:
    share = diff.previous.share(cluster)
    if not reaches(share, t.vanished_cluster_pct / 100):
        return []
    severity = share_severity(share, t.vanished_cluster_pct)
    return [
        make_alert(
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
    test = share_change(
        diff.previous, noise.previous, diff.current, noise.current, t.outlier_growth_points
    )
    if test is None or test[1] < test[0]:
        return []
    before, after, p_value = test
    return [
        make_alert(
            diff,
            AlertKind.OUTLIER_GROWTH,
            share_severity(after - before, t.outlier_growth_points),
            previous=noise.previous,
            current=noise.current,
            before=before,
            after=after,
            items_before=noise.previous.size,
            items_after=noise.current.size,
            p_value=p_value,
        )
    ]
