"""Wire shapes of PostHog's responses, and their parsing into domain models.

Everything PostHog hands us is read here, defensively: `$ai_clusters` arrives as a native array
or as a JSON string, `metrics` may be present, `null` or absent, legacy runs carry
`$ai_total_traces_analyzed` and no level, timestamps come with microseconds and offsets or as
"". A malformed cluster is skipped with a warning naming the run; it never fails the caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.models import (
    Cluster,
    ClusteringRun,
    ClusterItem,
    ClusterMetrics,
    Level,
    RunSummary,
)
from bot.posthog.errors import PostHogSchemaError

logger = logging.getLogger(__name__)


class QueryResult(BaseModel):
    """A HogQLQueryResponse, trimmed to what we read."""

    model_config = ConfigDict(extra="ignore")

    columns: list[str]
    results: list[list[Any]]
    # PostHog sets hasMore only for queries without a LIMIT of their own; null otherwise.
    has_more: bool | None = Field(default=None, alias="hasMore")

    def rows(self) -> list[dict[str, Any]]:
        return list(self.each_row())

    def each_row(self) -> Iterator[dict[str, Any]]:
        """The rows one at a time: a large answer (tens of thousands of item values) is read
        without a dict per row alive at once."""
        for row in self.results:
            yield dict(zip(self.columns, row, strict=False))


class EvaluationTarget(BaseModel):
    """The trace and generation an `$ai_evaluation` judged (`$ai_trace_id`,
    `$ai_target_event_id`), and when it ran."""

    model_config = ConfigDict(frozen=True)

    evaluation_id: str
    trace_id: str
    generation_id: str | None = None
    name: str | None = None
    result: str | None = None
    at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EvaluationTarget | None:
        evaluation_id = str(row.get("item_id") or "")
        trace_id = str(row.get("trace_id") or "")
        if not evaluation_id or not trace_id or trace_id == evaluation_id:
            return None  # an evaluation that names no trace resolves to nothing
        return cls(
            evaluation_id=evaluation_id,
            trace_id=trace_id,
            generation_id=str(row.get("target_id") or "") or None,
            name=str(row.get("evaluation_name") or "") or None,
            result=str(row.get("result") or "") or None,
            at=parse_datetime(row.get("timestamp")),
        )


class ClusteringJob(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str
    analysis_level: Level
    enabled: bool = True
    event_filters: list[Any] = Field(default_factory=list)
    created_at: datetime | None = None


class JobsPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    count: int = 0
    next: str | None = None
    results: list[ClusteringJob]


class TraceEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    event: str
    created_at: datetime | None = Field(default=None, alias="createdAt")
    properties: dict[str, Any] = Field(default_factory=dict)


class LLMTrace(BaseModel):
    """TraceQuery's LLMTrace (reference/posthog.md section 6); payloads can be megabytes."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str
    created_at: datetime | None = Field(default=None, alias="createdAt")
    trace_name: str | None = Field(default=None, alias="traceName")
    error_count: int | None = Field(default=None, alias="errorCount")
    total_latency: float | None = Field(default=None, alias="totalLatency")
    input_tokens: float | None = Field(default=None, alias="inputTokens")
    output_tokens: float | None = Field(default=None, alias="outputTokens")
    total_cost: float | None = Field(default=None, alias="totalCost")
    input_state: Any = Field(default=None, alias="inputState")
    output_state: Any = Field(default=None, alias="outputState")
    events: tuple[TraceEvent, ...] = ()


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 with or without offset/microseconds, or ClickHouse's "YYYY-MM-DD hh:mm:ss"."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _float(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _decode_json(value: object) -> object:
    """A JSON-typed cell: decode strings until they stop being JSON text (string layout)."""
    for _ in range(2):
        if not isinstance(value, str):
            return value
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def parse_run_summary(row: Mapping[str, Any]) -> RunSummary:
    try:
        return RunSummary(**_summary_fields(row))
    except (ValidationError, KeyError, ValueError, TypeError) as error:
        raise PostHogSchemaError(f"Unreadable clustering run {row.get('run_id')!r}") from error


def parse_run(row: Mapping[str, Any]) -> ClusteringRun:
    try:
        fields = _summary_fields(row)
    except (KeyError, ValueError, TypeError) as error:
        raise PostHogSchemaError(f"Unreadable clustering run {row.get('run_id')!r}") from error
    raw = _decode_json(row.get("clusters"))
    if not isinstance(raw, list):
        raise PostHogSchemaError(f"Run {fields['run_id']} has no readable $ai_clusters")
    clusters = tuple(c for c in (_parse_cluster(x, fields["run_id"]) for x in raw) if c)
    fields["cluster_count"] = len(clusters)
    params = _decode_json(row.get("params"))
    try:
        return ClusteringRun(
            **fields, clusters=clusters, params=params if isinstance(params, dict) else None
        )
    except ValidationError as error:
        raise PostHogSchemaError(f"Unreadable clustering run {fields['run_id']!r}") from error


def _summary_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    run_id = row.get("run_id")
    if not run_id:
        raise PostHogSchemaError("A clustering run event has no $ai_clustering_run_id")
    timestamp = parse_datetime(row.get("timestamp"))
    if timestamp is None:
        raise PostHogSchemaError(f"Run {run_id} has no readable timestamp")
    return {
        "run_id": str(run_id),
        "level": Level.from_event(str(row.get("event") or Level.TRACE.event)),
        "job_id": str(row.get("job_id") or ""),
        "job_name": str(row.get("job_name") or ""),
        "window_start": parse_datetime(row.get("window_start")),
        "window_end": parse_datetime(row.get("window_end")),
        "total_items": int(row.get("total_items") or 0),
        "timestamp": timestamp,
        "cluster_count": row.get("cluster_count"),
    }


def _parse_cluster(raw: object, run_id: str) -> Cluster | None:
    try:
        if not isinstance(raw, Mapping):
            raise TypeError(f"expected an object, got {type(raw).__name__}")
        traces = raw.get("traces") or {}
        if not isinstance(traces, Mapping):
            raise TypeError("traces is not an object")
        metrics = raw.get("metrics")
        return Cluster(
            cluster_id=int(raw["cluster_id"]),
            size=int(raw["size"]),
            title=str(raw.get("title") or f"Cluster {raw['cluster_id']}"),
            description=str(raw.get("description") or ""),
            items=tuple(_parse_item(item_id, data) for item_id, data in traces.items()),
            centroid_x=_float(raw.get("centroid_x")),
            centroid_y=_float(raw.get("centroid_y")),
            metrics=ClusterMetrics.model_validate(metrics)
            if isinstance(metrics, Mapping)
            else None,
        )
    except (KeyError, TypeError, ValueError, ValidationError) as error:
        logger.warning(
            "posthog.cluster.malformed",
            extra={"run_id": run_id, "error": str(error)[:200]},
        )
        return None


def _parse_item(item_id: str, data: object) -> ClusterItem:
    if not isinstance(data, Mapping):
        raise TypeError(f"item {item_id!r} is not an object")
    return ClusterItem(
        item_id=str(item_id),
        trace_id=str(data.get("trace_id") or item_id),
        generation_id=data.get("generation_id") or None,
        rank=int(data.get("rank", 0)),
        distance=_float(data.get("distance_to_centroid")),
        x=_float(data.get("x")),
        y=_float(data.get("y")),
        timestamp=parse_datetime(data.get("timestamp")),
    )


def parse_rows(payload: object, name: str) -> QueryResult:
    try:
        return QueryResult.model_validate(payload)
    except ValidationError as error:
        raise PostHogSchemaError(f"PostHog answered {name} with an unexpected shape") from error


def first(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return rows[0] if rows else None
