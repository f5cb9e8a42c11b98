"""Builders of small literal domain objects for tests: override only what a test is about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.models import (
    NOISE_CLUSTER_ID,
    Cluster,
    ClusteringRun,
    ClusterItem,
    ClusterMetrics,
    Level,
)

RUN_TIMESTAMP = datetime(2026, 6, 14, 0, 15, 2, tzinfo=UTC)


def ids(prefix: str, count: int, start: int = 0) -> tuple[str, ...]:
    """`ids("a", 3)` -> `("a0", "a1", "a2")`: item ids for literal clusters."""
    return tuple(f"{prefix}{i}" for i in range(start, start + count))


def make_item(item_id: str = "item-0", *, rank: int = 0, **overrides: Any) -> ClusterItem:
    values: dict[str, Any] = {"item_id": item_id, "trace_id": item_id, "rank": rank}
    return ClusterItem(**(values | overrides))


def make_alert(kind: AlertKind, **overrides: Any) -> Alert:
    """A warning on cluster 1 of run "r2", matched to cluster 1 of run "r1"."""
    values: dict[str, Any] = {
        "kind": kind,
        "severity": Severity.WARNING,
        "cluster_id": 1,
        "previous_cluster_id": 1,
        "title": "t",
        "current_run_id": "r2",
        "previous_run_id": "r1",
    }
    return Alert(**(values | overrides))


def make_metrics(**overrides: Any) -> ClusterMetrics:
    """Healthy defaults: 100 items with data, 2 % errors, $0.01 and 2 s per item."""
    values: dict[str, Any] = {
        "avg_cost": 0.01,
        "avg_latency": 2.0,
        "avg_tokens": 1500.0,
        "total_cost": 1.0,
        "error_rate": 0.02,
        "error_count": 2,
        "item_count": 100,
    }
    return ClusterMetrics(**(values | overrides))


def make_cluster(
    cluster_id: int = 0,
    *,
    title: str | None = None,
    description: str = "",
    item_ids: Iterable[str] = (),
    size: int | None = None,
    metrics: ClusterMetrics | None = None,
    **overrides: Any,
) -> Cluster:
    """A cluster whose `size` defaults to its item count (100 when it has no items)."""
    items = tuple(make_item(item_id, rank=rank) for rank, item_id in enumerate(item_ids))
    if title is None:
        title = "Outliers" if cluster_id == NOISE_CLUSTER_ID else f"Topic {cluster_id}"
    return Cluster(
        cluster_id=cluster_id,
        size=size if size is not None else (len(items) or 100),
        title=title,
        description=description,
        items=items,
        metrics=metrics,
        **overrides,
    )


def make_noise(*, item_ids: Iterable[str] = (), size: int | None = None) -> Cluster:
    return make_cluster(NOISE_CLUSTER_ID, item_ids=item_ids, size=size)


def make_run(
    *clusters: Cluster,
    run_id: str = "2_trace_20260614_001502_job-1",
    total_items: int | None = None,
    level: Level = Level.TRACE,
    job_id: str = "job-1",
    timestamp: datetime = RUN_TIMESTAMP,
    **overrides: Any,
) -> ClusteringRun:
    """A run of `clusters`; `total_items` defaults to the sum of their sizes, as PostHog sets it."""
    return ClusteringRun(
        run_id=run_id,
        level=level,
        job_id=job_id,
        total_items=total_items if total_items is not None else sum(c.size for c in clusters),
        timestamp=timestamp,
        clusters=clusters,
        **overrides,
    )
