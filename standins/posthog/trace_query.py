"""`TraceQuery` for the sandbox PostHog: one LLM trace with its events.

Mirrors `posthog/hogql_queries/ai/trace_query_runner.py`: the date range is widened by ±10
minutes for the SQL filter, and a trace is returned only if its events overlap the requested
(unwidened) range. Aggregates follow the runner's SQL (latency: the sum of generation latencies
when only generations carry one, else the sum over root-level events; tokens and costs over
`$ai_generation` + `$ai_embedding`, `null` when zero). Costs are rounded to 4 dp as the
project's reference notes say (the newest runner rounds to 10 dp).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.posthog.hogql import HogQLError, quote_string
from standins.posthog.store import EventStore

CAPTURE_RANGE = timedelta(minutes=10)
TRACE_EVENTS = ("$ai_span", "$ai_generation", "$ai_embedding", "$ai_metric", "$ai_feedback")
COST_EVENTS = ("$ai_generation", "$ai_embedding")
COLUMNS = [
    "id",
    "createdAt",
    "person",
    "distinctId",
    "aiSessionId",
    "traceName",
    "errorCount",
    "totalLatency",
    "inputTokens",
    "outputTokens",
    "inputCost",
    "outputCost",
    "totalCost",
    "inputState",
    "outputState",
    "events",
]

_RELATIVE = re.compile(r"^-(\d+)([hdwmyM])$")
_UNITS = {"M": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}


def parse_date(value: object, now: datetime, *, end_of_day: bool = False) -> datetime | None:
    """ISO datetime/date, a relative `-7d` / `-24h` / `-30M` (minutes), or None."""
    if value is None or value == "" or value == "all":
        return None
    if not isinstance(value, str):
        raise HogQLError(f"Invalid date {value!r}")
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HogQLError(f"Invalid date {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        moment += timedelta(days=1, microseconds=-1)
    return moment.astimezone(UTC)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _state(value: object) -> object:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _parse_ch_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def run_trace_query(store: EventStore, query: dict[str, Any], now: datetime) -> dict[str, Any]:
    trace_id = query.get("traceId")
    if not isinstance(trace_id, str) or not trace_id:
        raise HogQLError("TraceQuery needs a traceId")
    date_range = query.get("dateRange") or {}
    if not isinstance(date_range, dict):
        raise HogQLError("dateRange must be an object")
    date_from = parse_date(date_range.get("date_from") or "-7d", now)
    date_to = parse_date(date_range.get("date_to"), now, end_of_day=True) or now
    assert date_from is not None

    events_sql = ", ".join(quote_string(e) for e in (*TRACE_EVENTS, "$ai_trace"))
    sql = (
        "SELECT toString(uuid), event, timestamp, distinct_id, properties "
        f"FROM {store.database}.events "
        f"WHERE event IN ({events_sql}) "
        f"AND JSONExtractString(properties, '$ai_trace_id') = {quote_string(trace_id)} "
        f"AND timestamp >= {store.literal_timestamp(date_from - CAPTURE_RANGE)} "
        f"AND timestamp <= {store.literal_timestamp(date_to + CAPTURE_RANGE)} "
        "ORDER BY timestamp, event LIMIT 10000"
    )
    rows = store.query_json(sql)["data"]
    hogql = (
        "SELECT trace_id AS id, … FROM ai_events WHERE event IN (…) "
        f"AND trace_id = {quote_string(trace_id)} GROUP BY trace_id LIMIT 1"
    )
    response: dict[str, Any] = {
        "results": [],
        "columns": COLUMNS,
        "hogql": hogql,
        "timings": [],
        "modifiers": query.get("modifiers") or {},
        "is_cached": False,
        "timezone": "UTC",
        "last_refresh": now.astimezone(UTC).isoformat(),
    }
    if not rows:
        return response
    events = [
        {
            "uuid": row[0],
            "event": row[1],
            "timestamp": _parse_ch_timestamp(row[2]),
            "distinct_id": row[3],
            "properties": json.loads(row[4]) if row[4] else {},
        }
        for row in rows
    ]
    first = min(e["timestamp"] for e in events)
    last = max(e["timestamp"] for e in events)
    if first > date_to or last < date_from:
        return response
    response["results"] = [_build_trace(trace_id, events, first)]
    return response


def _build_trace(trace_id: str, events: list[dict[str, Any]], first: datetime) -> dict[str, Any]:
    roots = [e for e in events if e["event"] == "$ai_trace"]
    root = roots[0] if roots else None
    distinct_id = (root["distinct_id"] if root else "") or events[0]["distinct_id"]

    def prop(e: dict[str, Any], key: str) -> Any:
        return e["properties"].get(key)

    latencies = [(e, _float(prop(e, "$ai_latency")) or 0.0) for e in events]
    non_gen = sum(1 for e, lat in latencies if lat > 0 and e["event"] != "$ai_generation")
    gen = sum(1 for e, lat in latencies if lat > 0 and e["event"] == "$ai_generation")
    if non_gen == 0 and gen > 0:
        total_latency = sum(lat for e, lat in latencies if e["event"] == "$ai_generation")
    else:
        total_latency = sum(
            lat for e, lat in latencies if prop(e, "$ai_parent_id") in (None, "", trace_id)
        )

    costed = [e for e in events if e["event"] in COST_EVENTS]

    def total(key: str, digits: int | None) -> float | None:
        value = sum(_float(prop(e, key)) or 0.0 for e in costed)
        if digits is not None:
            value = round(value, digits)
        return value or None

    session_id = next(
        (prop(e, "$ai_session_id") for e in events if prop(e, "$ai_session_id")), None
    )
    name_source = root or events[0]
    trace_name = prop(name_source, "$ai_span_name") or prop(name_source, "$ai_trace_name")
    error_count = sum(
        1 for e in events if _is_true(prop(e, "$ai_is_error")) or prop(e, "$ai_error")
    )
    seen: set[str] = set()
    children = []
    for e in events:
        if e["event"] == "$ai_trace" or e["uuid"] in seen:
            continue
        seen.add(e["uuid"])
        children.append(
            {
                "id": e["uuid"],
                "event": e["event"],
                "createdAt": _iso(e["timestamp"]),
                "properties": e["properties"],
            }
        )
    return {
        "id": trace_id,
        "createdAt": _iso(first),
        "person": {
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-person:{distinct_id}")),
            "distinct_id": distinct_id,
            "created_at": _iso(first),
            "properties": {},
        },
        "distinctId": distinct_id,
        "aiSessionId": session_id,
        "traceName": trace_name,
        "errorCount": error_count,
        "totalLatency": round(total_latency, 2),
        "inputTokens": total("$ai_input_tokens", None),
        "outputTokens": total("$ai_output_tokens", None),
        "inputCost": total("$ai_input_cost_usd", 4),
        "outputCost": total("$ai_output_cost_usd", 4),
        "totalCost": total("$ai_total_cost_usd", 4),
        "inputState": _state(prop(root, "$ai_input_state")) if root else None,
        "outputState": _state(prop(root, "$ai_output_state")) if root else None,
        "events": children,
    }
