"""Metrics the bot computes itself are marked as such, and an unknown total cost is "none",
never $0 (issue 13 item 9)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.models import ClusterMetrics
from bot.posthog.metrics import ItemMetrics, aggregate_cluster_metrics
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.env import make_environment
from bot.views import ClusterView
from tests.support.blocks import mrkdwn_texts
from tests.support.factories import ids, make_cluster, make_run

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def renderer() -> Renderer:
    return Renderer(make_environment(), PostHogUrls("https://us.posthog.com", 2), clock=lambda: NOW)


def test_no_positive_cost_makes_total_cost_none_and_marks_the_metrics_computed() -> None:
    cluster = make_cluster(0, item_ids=ids("a", 3))
    per_item = {
        item.item_id: ItemMetrics(cost=0.0, latency=1.5, tokens=10, errors=0)
        for item in cluster.items
    }
    metrics = aggregate_cluster_metrics(cluster, per_item)
    assert metrics.total_cost is None
    assert metrics.avg_cost is None
    assert metrics.item_count == 3
    assert metrics.computed is True


def test_positive_costs_still_sum() -> None:
    cluster = make_cluster(0, item_ids=ids("a", 2))
    costs = iter([0.0, 0.25])
    per_item = {
        item.item_id: ItemMetrics(cost=next(costs), latency=1, tokens=1, errors=0)
        for item in cluster.items
    }
    assert aggregate_cluster_metrics(cluster, per_item).total_cost == 0.25


def test_users_see_which_metrics_the_bot_computed() -> None:
    computed = ClusterMetrics(avg_latency=2.0, error_rate=0.0, item_count=3, computed=True)
    run = make_run(
        make_cluster(0, item_ids=ids("a", 3), metrics=computed, title="Computed cluster"),
        run_id="2_trace_20261127_001500_j",
    )
    cluster = run.clusters[0]
    shown = " ".join(mrkdwn_texts(renderer().cluster(ClusterView(run, cluster)).blocks))
    assert "computed by the bot" in shown
    assert "total none" in shown
    summary = " ".join(mrkdwn_texts(renderer().summary(run).blocks))
    assert "_(computed)_" in summary


def test_metrics_from_posthog_are_not_labelled_computed() -> None:
    embedded = ClusterMetrics(avg_cost=0.1, total_cost=0.3, item_count=3, error_rate=0.0)
    run = make_run(
        make_cluster(0, item_ids=ids("a", 3), metrics=embedded),
        run_id="2_trace_20261127_001500_j",
    )
    shown = " ".join(mrkdwn_texts(renderer().cluster(ClusterView(run, run.clusters[0])).blocks))
    assert "computed" not in shown
    assert "total $0.3000" in shown
