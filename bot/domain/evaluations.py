"""Evaluation runs (`$ai_evaluation_clusters`): where the run's failing evaluations sit. Pure.

A cluster's failing evaluations are its evaluations with a verdict that did not pass:
`item_count × (1 − na_rate) × (1 − pass_rate)`, from the metrics PostHog attaches to each
evaluation cluster. A cluster's *fail share* is its part of all the run's failing evaluations,
so a cluster whose share grows is where a run's failures are gathering, even when the run's
overall pass rate holds.
"""

from __future__ import annotations

from typing import NamedTuple

from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.fresh import reaches
from bot.domain.models import Cluster, ClusteringRun
from bot.domain.stats import two_proportion_z_test
from bot.domain.thresholds import Thresholds


class FailShareChange(NamedTuple):
    before: float
    after: float
    failing_before: int  # the run's failing evaluations: what each share is a share of
    failing_after: int
    p_value: float


def failing_evaluations(cluster: Cluster) -> int | None:
    """The cluster's evaluations whose verdict was a fail; `None` without a pass rate."""
    metrics = cluster.metrics
    if metrics is None or metrics.pass_rate is None:
        return None
    count = metrics.item_count if metrics.item_count is not None else cluster.size
    judged = count * (1 - (metrics.na_rate or 0.0))
    return round(judged * (1 - metrics.pass_rate))


def run_failing(run: ClusteringRun) -> int:
    """All failing evaluations of the run's clusters (outliers included)."""
    return sum(failing_evaluations(c) or 0 for c in run.clusters)


def fail_share(run: ClusteringRun, cluster: Cluster, total: int | None = None) -> float | None:
    failing = failing_evaluations(cluster)
    total = run_failing(run) if total is None else total
    return failing / total if failing is not None and total > 0 else None


def fail_share_growth(diff: RunDiff, match: ClusterMatch, t: Thresholds) -> FailShareChange | None:
    """The change when a matched cluster's fail share rose `fail_share_growth_points`, with
    at least `min_items` failing evaluations in each run; the p-value of the two-proportion
    test is judged with the run's other share tests (Benjamini-Hochberg, in `rules.py`)."""
    if match.current.is_noise:
        return None
    total_before, total_after = run_failing(diff.previous), run_failing(diff.current)
    if total_before < t.min_items or total_after < t.min_items:
        return None
    before = fail_share(diff.previous, match.previous, total_before)
    after = fail_share(diff.current, match.current, total_after)
    if before is None or after is None:
        return None
    if not reaches(after - before, t.fail_share_growth_points / 100):
        return None
    p_value = two_proportion_z_test(before, total_before, after, total_after).p_value
    return FailShareChange(before, after, total_before, total_after, p_value)
