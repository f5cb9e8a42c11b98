"""Cluster metrics from per-item aggregates, with PostHog's own semantics.

Mirrors `trace_clustering/aggregates.py` (reference/posthog.md 1.3): averages count only items
with a value > 0; `item_count` is the items that had any data; `error_rate` is the share of
those with at least one error. `total_cost` is None, not 0, when no item has a positive cost
(unknown, not free). Every result is marked `computed`, so users can tell it from PostHog's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.models import Cluster, ClusterMetrics


@dataclass(frozen=True, slots=True)
class ItemMetrics:
    cost: float
    latency: float
    tokens: float
    errors: int
    output_tokens: float = 0.0  # of the generations: what latency grows with (fresh_values)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ItemMetrics:
        return cls(
            cost=float(row.get("cost") or 0.0),
            latency=float(row.get("latency") or 0.0),
            tokens=float(row.get("tokens") or 0.0),
            errors=int(row.get("errors") or 0),
            output_tokens=float(row.get("output_tokens") or 0.0),
        )


def _positive_mean(values: list[float]) -> float | None:
    positive = [v for v in values if v > 0]
    return sum(positive) / len(positive) if positive else None


def aggregate_cluster_metrics(
    cluster: Cluster, per_item: Mapping[str, ItemMetrics]
) -> ClusterMetrics:
    found = [per_item[item.item_id] for item in cluster.items if item.item_id in per_item]
    if not found:
        return ClusterMetrics(item_count=0, error_count=0, computed=True)
    with_errors = sum(1 for m in found if m.errors > 0)
    costs = [m.cost for m in found]
    return ClusterMetrics(
        avg_cost=_positive_mean(costs),
        avg_latency=_positive_mean([m.latency for m in found]),
        avg_tokens=_positive_mean([m.tokens for m in found]),
        total_cost=sum(costs) if any(cost > 0 for cost in costs) else None,
        error_rate=with_errors / len(found),
        error_count=with_errors,
        item_count=len(found),
        computed=True,
    )
