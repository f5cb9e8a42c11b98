"""The run's items: compact (one slotted object each), complete when they gain their values,
and unchanged through the store's JSON."""

from __future__ import annotations

import tracemalloc
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

from bot.domain.models import ClusteringRun, ClusterItem
from bot.posthog.metrics import ItemMetrics
from tests.support.factories import make_cluster, make_run

AT = datetime(2026, 6, 13, 9, 30, tzinfo=UTC)


def full_item(k: int) -> ClusterItem:
    """An item with every field set, as a run's items are once alerting has looked at them."""
    return ClusterItem(
        item_id=f"{k:08d}-0000-4000-8000-000000000000",
        trace_id=f"trace-{k:08d}-0000-4000-8000-000000",
        generation_id=f"gen-{k}",
        rank=k,
        distance=0.25 + k,
        x=1.5 + k,
        y=-2.5 - k,
        timestamp=AT + timedelta(seconds=k),
        cost=0.001 * k,
        latency=1.25,
        tokens=300.0 + k,
        errors=k % 2,
        output_tokens=100.0 + k,
    )


def test_items_gaining_their_values_keep_every_other_field() -> None:
    items = (full_item(1), full_item(2))
    run = make_run(make_cluster(0).model_copy(update={"items": items}))
    values = {
        items[0].item_id: ItemMetrics(cost=0.5, latency=9.0, tokens=42.0, errors=3, output_tokens=7)
    }

    done = run.with_item_values(values)

    first, second = done.clusters[0].items
    assert first == replace(
        items[0], cost=0.5, latency=9.0, tokens=42.0, errors=3, output_tokens=7.0
    )
    assert second == items[1]  # no values for it: unchanged
    values_fields = {"cost", "latency", "tokens", "errors", "output_tokens"}
    assert {f.name for f in fields(ClusterItem)} >= values_fields


def test_a_run_item_takes_a_few_hundred_bytes_not_a_kilobyte_and_a_half() -> None:
    count = 3000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        items = [full_item(k) for k in range(count)]
        per_item = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(items) == count
    # A pydantic model per item took about 1,480 bytes; a slotted dataclass about 400.
    assert per_item < 600, per_item


def test_a_run_reads_back_from_its_json_unchanged() -> None:
    items = tuple(full_item(k) for k in range(3))
    run = make_run(make_cluster(0).model_copy(update={"items": items}), window_end=AT)

    again = ClusteringRun.model_validate_json(run.model_dump_json())

    assert again == run
    assert all(isinstance(item, ClusterItem) for item in again.clusters[0].items)
    assert again.clusters[0].items[2].timestamp == AT + timedelta(seconds=2)
