"""A cluster's values in a whole run, read safely, and how its share moved between two runs:
what the run-to-run rules (`rules.py`) measure. Pure."""

from __future__ import annotations

import math

from bot.domain.effects import reaches
from bot.domain.models import Cluster, ClusteringRun
from bot.domain.stats import two_proportion_z_test
from bot.domain.thresholds import Thresholds


def metric_value(cluster: Cluster, name: str) -> float | None:
    """The cluster's metric `name` (`ClusterMetrics`), or `None` when unknown or not finite."""
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


def share_change(
    previous_run: ClusteringRun,
    previous: Cluster,
    current_run: ClusteringRun,
    current: Cluster,
    min_points: float,
) -> tuple[float, float, float] | None:
    """`(before, after, p_value)` when the share moved `min_points`; `evaluate_rules` judges
    the p-values of all share tests of the run together (`run_alerts.significant`)."""
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
