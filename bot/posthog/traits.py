"""Each item's traits for `bot/domain/causes.py`, in one HogQL query for a whole run.

All the alerted clusters of a run share that query: their items are at most the run's 1,500,
which fit one `IN` list (`queries.ID_CHUNK`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.domain.causes import ItemTraits
from bot.domain.models import Level
from bot.posthog import queries


class Queries(Protocol):
    def query(self, hogql: str, values: dict[str, Any], *, name: str) -> Any: ...


def fetch_item_traits(
    client: Queries, level: Level, item_ids: Sequence[str], window: tuple[datetime, datetime]
) -> dict[str, ItemTraits]:
    """Traits by item id; `{}` for evaluation runs or no items. Spends ONE query from the
    client's budget (`PostHogBudgetExhausted` when it is short: the caller goes without)."""
    template = queries.ITEM_TRAITS.get(level)
    ids = list(dict.fromkeys(item_ids))[: queries.ID_CHUNK]
    if template is None or not ids:
        return {}
    result = client.query(
        template,
        {
            "item_ids": ids,
            "date_from": _utc(window[0]),
            "date_to": _utc(window[1]),
            "limit": len(ids) + 1,
        },
        name=f"{level.value}_item_traits",
    )
    return {str(row["item_id"]): traits_from_row(row) for row in result.rows()}


def traits_from_row(row: Mapping[str, Any]) -> ItemTraits:
    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None or str(value) == "null" else str(value)

    item_id = str(row["item_id"])
    return ItemTraits(
        item_id=item_id,
        trace_id=str(row.get("trace_id") or item_id),
        cost=float(row.get("cost") or 0.0),
        latency=float(row.get("latency") or 0.0),
        input_tokens=float(row.get("input_tokens") or 0.0),
        output_tokens=float(row.get("output_tokens") or 0.0),
        generations=int(row.get("generations") or 0),
        model=text("model"),
        provider=text("provider"),
        error=text("error"),
        http_status=text("http_status"),
        name=text("name"),
        user=text("user"),
        session=text("session"),
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
