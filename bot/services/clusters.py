"""Answers to `/clusters` questions and drilldowns, as data for the renderer."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz

from bot.domain.compare import RunDiff, diff_runs
from bot.domain.models import Cluster, ClusteringRun, ClusterItem, ClusterRef, Level, RunSummary
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogEndpointInternal, PostHogNotFound
from bot.posthog.schemas import ClusteringJob, LLMTrace
from bot.services.errors import CommandError
from bot.services.runs import RunRepository, pick_latest
from bot.views import (
    ClusterView,
    ItemDetail,
    JobsView,
    Ranked,
    RankedList,
    TraceStep,
    TraceTarget,
    TraceView,
)

DRILLDOWN_ITEMS = 5
TRACE_STEPS_MAX = 15
MIN_ITEMS_FOR_RATE = 10
METRIC_KEYS = {"cost": "avg_cost", "latency": "avg_latency", "errors": "error_rate"}


class ClustersService:
    def __init__(self, runs: RunRepository, posthog: PostHogClient) -> None:
        self.runs = runs  # runs and their metrics, stored once loaded
        self.client = posthog  # what only PostHog answers: jobs, item details, traces

    # -- questions ---------------------------------------------------------------------------

    def latest(self, level: Level | None = None, job: str | None = None) -> ClusteringRun:
        return self.runs.latest(level, job)

    def recent_runs(self, level: Level | None, limit: int) -> list[RunSummary]:
        return [r for r in self.runs.recent() if level is None or r.level == level][:limit]

    def find_cluster(self, ref: ClusterRef, run_id: str | None) -> ClusterView:
        """A cluster by id or by title words, in a given run or the newest runs: the one place
        a user's cluster reference is resolved (`show`, `mute` and `unmute` all come here)."""
        runs = [self.runs.get(run_id)] if run_id else self.runs.latest_per_series()
        if not runs:
            raise CommandError("No clustering runs in the last 30 days.")
        cluster_id, query = ref.cluster_id, str(ref)
        for run in runs:
            if cluster_id is not None and (found := run.cluster(cluster_id)) is not None:
                return self.cluster_view(run, found)
        if cluster_id is None:
            best = max(
                (
                    (fuzz.token_set_ratio(query.casefold(), c.title.casefold()), run, c)
                    for run in runs
                    for c in run.clusters
                ),
                key=lambda entry: entry[0],
                default=None,
            )
            if best is not None and best[0] >= 60:
                return self.cluster_view(best[1], best[2])
        raise CommandError(
            f"No cluster matches `{query}` in the newest runs. Try a cluster id from "
            "`/clusters latest`, or other words from its title."
        )

    def top(self, metric: str, level: Level | None) -> RankedList:
        entries: list[Ranked] = []
        for run in self.runs.latest_per_series(level):
            for cluster in run.clusters:
                if cluster.is_noise:
                    continue
                value = _metric_value(run, cluster, metric)
                if value is not None:
                    entries.append(Ranked(run, cluster, value))
        entries.sort(key=lambda e: e.value or 0.0, reverse=True)
        return RankedList(metric, level.value if level else None, tuple(entries[:10]))

    def compare(
        self,
        current_id: str | None = None,
        previous_id: str | None = None,
        level: Level | None = None,
    ) -> RunDiff:
        current = self.runs.get(current_id) if current_id else self.runs.latest(level)
        if previous_id:
            previous: ClusteringRun | None = self.runs.get(previous_id)
        else:
            previous = self.runs.previous(current)
        if previous is None:
            raise CommandError(
                f"Run `{current.run_id}` is the first run of its job: nothing to compare with yet."
            )
        if previous.series != current.series:
            raise CommandError("Those runs belong to different jobs; compare runs of one job.")
        if previous.timestamp > current.timestamp:
            previous, current = current, previous
        return diff_runs(previous, current)

    def jobs(self) -> JobsView:
        """PostHog's job list; on versions where that endpoint is internal (403 for personal
        API keys), the jobs seen in the last 30 days of runs."""
        try:
            return JobsView(tuple(self.client.list_jobs()))
        except PostHogEndpointInternal:
            seen: dict[tuple[str, str], ClusteringJob] = {}
            for run in self.runs.recent():
                key = (run.level.value, run.job_id)
                if key not in seen:
                    seen[key] = ClusteringJob(
                        id=run.job_id or "legacy",
                        name=run.job_name or f"Default ({run.level.value})",
                        analysis_level=run.level,
                    )
            return JobsView(tuple(seen.values()), from_runs=True)

    # -- drilldowns --------------------------------------------------------------------------

    def cluster_items(self, run_id: str, cluster_id: int) -> ClusterView:
        run = self.runs.get(run_id)
        cluster = run.cluster(cluster_id)
        if cluster is None:
            raise CommandError(f"Run `{run_id}` has no cluster {cluster_id}.")
        return self.cluster_view(run, cluster)

    def cluster_view(self, run: ClusteringRun, cluster: Cluster) -> ClusterView:
        return ClusterView(run, cluster, self._item_details(run.run_id, cluster.cluster_id))

    @functools.lru_cache(maxsize=256)  # noqa: B019 - runs are immutable; one service per process
    def _item_details(self, run_id: str, cluster_id: int) -> tuple[ItemDetail, ...]:
        """The representative items with their numbers: two queries, cached per cluster."""
        run = self.runs.get(run_id)
        cluster = run.cluster(cluster_id)
        if cluster is None:
            return ()
        items = cluster.representative(DRILLDOWN_ITEMS)
        if run.level is Level.EVALUATION:
            return self._evaluation_details(run, items)
        if not items or run.window_start is None or run.window_end is None:
            return tuple(ItemDetail(item, _item_target(item)) for item in items)
        window = (run.window_start - timedelta(days=1), run.window_end + timedelta(hours=1))
        numbers = self.client.item_metrics(run.level, [i.item_id for i in items], window)
        details = self.client.item_details(run.level, [i.item_id for i in items], window)
        result = []
        for item in items:
            found, extra = numbers.get(item.item_id), details.get(item.item_id, {})
            result.append(
                ItemDetail(
                    item=item,
                    target=_item_target(item),
                    summary_title=extra.get("summary_title") or None,
                    model=extra.get("model") or None,
                    cost=found.cost if found else None,
                    latency=found.latency if found else None,
                    tokens=found.tokens if found else None,
                    error=(extra.get("error") or "error") if found and found.errors else None,
                )
            )
        return tuple(result)

    def _evaluation_details(
        self, run: ClusteringRun, items: Sequence[ClusterItem]
    ) -> tuple[ItemDetail, ...]:
        """An evaluation item's key is the `$ai_evaluation` uuid and its `trace_id` may be that
        uuid too: resolve each to the trace and generation it judged (one query), and give the
        ones that resolve to nothing no link at all."""
        if not items or run.window_start is None or run.window_end is None:
            return tuple(ItemDetail(item) for item in items)
        window = (run.window_start - timedelta(days=1), run.window_end + timedelta(hours=1))
        targets = self.client.evaluation_targets([i.item_id for i in items], window)
        details = []
        for item in items:
            found = targets.get(item.item_id)
            if found is None:
                details.append(ItemDetail(item, summary_title="Evaluation without a trace"))
                continue
            verdict = " · ".join(filter(None, [found.name, found.result]))
            details.append(
                ItemDetail(
                    item,
                    TraceTarget(found.trace_id, found.at, found.generation_id),
                    summary_title=verdict or None,
                )
            )
        return tuple(details)

    def trace(
        self, trace_id: str, at: datetime | None = None, event: str | None = None
    ) -> TraceView:
        try:
            trace = self.client.get_trace(trace_id, at)
        except PostHogNotFound:
            raise CommandError(
                f"No trace `{trace_id}` found "
                f"{'around that time' if at else 'in the last 30 days'}. "
                "PostHog keeps LLM events for a limited time."
            ) from None
        return trace_view(trace, event)


def _item_target(item: ClusterItem) -> TraceTarget:
    """A trace or generation item leads to its trace (and, for a generation, that event)."""
    return TraceTarget(item.trace_id, item.timestamp, item.generation_id)


def trace_view(trace: LLMTrace, event: str | None = None) -> TraceView:
    steps = [
        TraceStep(
            kind=e.event,
            name=str(e.properties.get("$ai_span_name") or e.properties.get("$ai_model") or e.event),
            at=e.created_at,
            model=_str(e.properties.get("$ai_model")),
            latency=_num(e.properties.get("$ai_latency")),
            cost=_num(e.properties.get("$ai_total_cost_usd")),
            error=_error_text(e.properties),
        )
        for e in trace.events
    ]
    generations = [e for e in trace.events if e.event == "$ai_generation"]
    first_input = _text(trace.input_state) or (
        _text(generations[0].properties.get("$ai_input")) if generations else None
    )
    final_output = _text(trace.output_state) or (
        _text(generations[-1].properties.get("$ai_output_choices")) if generations else None
    )
    tokens = (trace.input_tokens or 0) + (trace.output_tokens or 0)
    return TraceView(
        trace_id=trace.id,
        name=trace.trace_name,
        created_at=trace.created_at,
        total_cost=trace.total_cost,
        total_latency=trace.total_latency,
        tokens=tokens or None,
        error_count=trace.error_count or sum(1 for s in steps if s.error),
        steps=tuple(steps[:TRACE_STEPS_MAX]),
        first_input=first_input,
        final_output=final_output,
        event=event,
        hidden_steps=max(0, len(steps) - TRACE_STEPS_MAX),
    )


def _metric_value(run: ClusteringRun, cluster: Cluster, metric: str) -> float | None:
    if metric == "size":
        return run.share(cluster)
    metrics = cluster.metrics
    if metrics is None:
        return None
    if metric == "errors" and (metrics.item_count or 0) < MIN_ITEMS_FOR_RATE:
        return None
    value = getattr(metrics, METRIC_KEYS[metric])
    return float(value) if value is not None else None


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _num(value: object) -> float | None:
    try:
        return float(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _error_text(properties: dict[str, Any]) -> str | None:
    if str(properties.get("$ai_is_error")).lower() != "true":
        return None
    return str(properties.get("$ai_error") or "error")


def _text(value: object) -> str | None:
    """Readable text out of LLM input/output shapes: strings, messages, content parts."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return _text(decoded) if not isinstance(decoded, str) else decoded
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        return "\n".join(p for p in parts if p) or None
    if isinstance(value, dict):
        for key in ("content", "text", "message", "output", "input"):
            if key in value:
                return _text(value[key])
        return json.dumps(value)[:1000]
    return str(value)


__all__ = ["ClustersService", "pick_latest", "trace_view"]
