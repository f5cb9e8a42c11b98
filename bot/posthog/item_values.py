"""The own values of chosen items of one level (cost, latency, tokens, errors, generations, when
the item started), in ONE HogQL query: for items no run sampled, which have no place in a run's
`$ai_clusters` from which `queries.RUN_ITEM_METRICS` could read their ids.

The values are the per-item query's own columns (`queries.TRACE_VALUE_COLUMNS` and
`GENERATION_VALUE_COLUMNS`, PostHog's `trace_clustering/data.py` semantics). Each row adds the
item's first event time (a trace's start, which is what a run's item timestamp is) and, for
generations, the trace id, so that the caller can build a `ClusterItem` as the run's own would
look.

The ids travel as one array value (`{item_ids}`), never spliced. ClickHouse takes at most
256 KiB of query text, about 6,000 inlined ids, so more than `IDS_PER_QUERY` ids are asked in
several queries (a run's unsampled fresh items are far fewer: one day of the summarizer's cap).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.models import ClusterItem, Level
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogSchemaError
from bot.posthog.metrics import ItemMetrics
from bot.posthog.queries import (
    GENERATION_VALUE_COLUMNS,
    GENERATION_VALUE_EVENTS,
    MAX_ROWS,
    TRACE_VALUE_COLUMNS,
    TRACE_VALUE_EVENTS,
)
from bot.posthog.schemas import parse_datetime

logger = logging.getLogger(__name__)

IDS_PER_QUERY = 5000

TRACE_VALUES = (
    """
SELECT toString(properties.$ai_trace_id) AS item_id,
    toString(properties.$ai_trace_id) AS trace_id,
    """
    + TRACE_VALUE_COLUMNS
    + """,
    countIf(event = '$ai_generation') AS generations,
    min(timestamp) AS started
"""
    + TRACE_VALUE_EVENTS
    + "\nGROUP BY item_id, trace_id\nLIMIT {limit}"
)

GENERATION_VALUES = (
    """
SELECT toString(uuid) AS item_id,
    toString(properties.$ai_trace_id) AS trace_id,
    """
    + GENERATION_VALUE_COLUMNS
    + """,
    1 AS generations,
    timestamp AS started
"""
    + GENERATION_VALUE_EVENTS
    + "\nLIMIT {limit}"
)

ITEM_VALUES = {Level.TRACE: TRACE_VALUES, Level.GENERATION: GENERATION_VALUES}


@dataclass(frozen=True, slots=True)
class ItemValues:
    """One item's own values, as the per-item query gives them for a run's sampled items."""

    item_id: str
    trace_id: str
    metrics: ItemMetrics
    generations: int
    started: datetime | None

    def as_item(self, level: Level, *, timestamp: datetime | None = None) -> ClusterItem:
        """The item as a run's cluster would hold it, values filled in; `timestamp` (when the
        caller knows the item's time from elsewhere) wins over the first event's time."""
        return ClusterItem(
            item_id=self.item_id,
            trace_id=self.trace_id,
            generation_id=self.item_id if level is Level.GENERATION else None,
            rank=0,
            timestamp=timestamp or self.started,
            cost=self.metrics.cost,
            latency=self.metrics.latency,
            tokens=self.metrics.tokens,
            errors=self.metrics.errors,
            output_tokens=self.metrics.output_tokens,
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunks(values: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _row(row: dict[str, object]) -> ItemValues:
    item_id = str(row["item_id"])
    return ItemValues(
        item_id=item_id,
        trace_id=str(row.get("trace_id") or item_id),
        metrics=ItemMetrics.from_row(row),
        generations=int(str(row.get("generations") or 0)),
        started=parse_datetime(row.get("started")),
    )


def fetch_item_values(
    client: PostHogClient,
    level: Level,
    item_ids: Iterable[str],
    window: tuple[datetime, datetime],
) -> dict[str, ItemValues]:
    """The values of `item_ids` (all of `level`) from their events within `window`, keyed by
    item id: one query from the client's budget per `IDS_PER_QUERY` ids, none for no ids or a
    level without per-item values (evaluations). An item without events in the window is
    missing from the answer. Raises the client's `PostHogError`s."""
    template = ITEM_VALUES.get(level)
    ids = sorted(set(item_ids))
    if template is None or not ids:
        return {}
    if len(ids) > IDS_PER_QUERY:
        logger.info("posthog.item_values.split", extra={"items": len(ids)})
    found: dict[str, ItemValues] = {}
    for chunk in _chunks(ids, IDS_PER_QUERY):
        result = client.query(
            template,
            {
                "item_ids": chunk,
                "date_from": _utc(window[0]),
                "date_to": _utc(window[1]),
                "limit": MAX_ROWS,
            },
            name=f"{level.value}_item_values",
        )
        try:
            found.update((v.item_id, v) for v in map(_row, result.rows()))
        except (KeyError, TypeError, ValueError) as error:
            raise PostHogSchemaError(f"Unreadable {level.value} item values") from error
    return found


__all__ = ["IDS_PER_QUERY", "ITEM_VALUES", "ItemValues", "fetch_item_values"]
