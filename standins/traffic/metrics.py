"""PostHog's per-cluster aggregate metrics over the generator's items."""

from __future__ import annotations

from typing import Any

from standins.traffic.evals import evaluation_metrics
from standins.traffic.events import Item


def aggregate_metrics(items: list[Item]) -> dict[str, Any]:
    """PostHog's `_aggregate_operational_metrics` for one cluster (aggregates.py)."""
    total_cost = total_latency = 0.0
    total_tokens = cost_count = latency_count = token_count = 0
    with_errors = with_data = 0
    for item in items:
        m = item.metrics
        with_data += 1
        if m.error_count > 0:
            with_errors += 1
        if m.cost is not None and m.cost > 0:
            total_cost += m.cost
            cost_count += 1
        if m.latency is not None and m.latency > 0:
            total_latency += m.latency
            latency_count += 1
        tokens = (m.input_tokens or 0) + (m.output_tokens or 0)
        if tokens > 0:
            total_tokens += tokens
            token_count += 1
    evaluated = [(*i.evaluation, i.metrics.cost or 0.0) for i in items if i.evaluation]
    return {
        "avg_cost": total_cost / cost_count if cost_count else None,
        "avg_latency": total_latency / latency_count if latency_count else None,
        "avg_tokens": total_tokens / token_count if token_count else None,
        "total_cost": total_cost if cost_count else None,
        "error_rate": with_errors / with_data if with_data else None,
        "error_count": with_errors,
        "item_count": with_data,
        **(evaluation_metrics(evaluated) or EMPTY_EVALUATION_METRICS),
    }


EMPTY_EVALUATION_METRICS: dict[str, Any] = {
    "pass_rate": None,
    "na_rate": None,
    "dominant_evaluation_name": None,
    "dominant_runtime": None,
    "avg_judge_cost": None,
}
