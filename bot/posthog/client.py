"""PostHog client: the HogQL query API, TraceQuery and clustering jobs, over one httpx.Client.

Every request has a timeout and bounded retries (stamina): 429 waits what PostHog asked for (the
`Retry-After` header or the "Expected available in N seconds" detail), 429 without a wait, 5xx
and transport errors back off exponentially, other 4xx never retry. A wait longer than the retry
window is not retried at all: the client stops sending until PostHog's time (`ThrottleGate`),
and callers learn when to resume. Each HogQL query spends one unit of its budget, however many
attempts it takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import stamina

from bot.domain.models import CLUSTER_EVENTS, ClusteringRun, ClusterMetrics, Level, RunSummary
from bot.posthog import queries
from bot.posthog.budget import Budget, QueryBudget
from bot.posthog.errors import (
    PostHogBudgetExhausted,
    PostHogError,
    PostHogNotFound,
    PostHogRateLimited,
    PostHogSchemaError,
    PostHogThrottled,
    PostHogUnavailable,
)
from bot.posthog.metrics import ItemMetrics, aggregate_cluster_metrics
from bot.posthog.responses import raise_for_response
from bot.posthog.run_ids import run_day
from bot.posthog.schemas import (
    ClusteringJob,
    EvaluationTarget,
    JobsPage,
    LLMTrace,
    QueryResult,
    first,
    parse_rows,
    parse_run,
    parse_run_summary,
)
from bot.posthog.throttle import ThrottleGate

logger = logging.getLogger(__name__)

RUN_LOOKBACK = timedelta(days=90)
TRACE_MARGIN = timedelta(days=1)


def _is_transient(error: Exception) -> bool | float:
    """stamina's backoff hook: a float is the wait PostHog asked for."""
    if isinstance(error, PostHogBudgetExhausted | PostHogThrottled):
        return False  # our own budget, or a wait longer than we retry for: fail fast
    if isinstance(error, PostHogRateLimited):
        return error.retry_after if error.retry_after is not None else True
    return isinstance(error, PostHogUnavailable)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class PostHogClient:
    def __init__(
        self,
        http: httpx.Client,
        project_id: int,
        *,
        budget: Budget | None = None,
        attempts: int = 4,
        retry_timeout: float = 30.0,
        on_request: Callable[[str], None] | None = None,
        gate: ThrottleGate | None = None,
    ) -> None:
        self._http = http
        self._on_request = on_request
        self._base = f"/api/projects/{project_id}"
        self.budget: Budget = budget or QueryBudget(120)
        self.gate = gate or ThrottleGate()
        self._attempts = attempts
        self._retry_timeout = retry_timeout
        # The last refusal that stopped work (a spent budget or a long throttle), for callers
        # that report on a whole cycle.
        self.stopped_by: PostHogRateLimited | None = None

    # -- transport -----------------------------------------------------------------------

    def _send(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        try:
            self.gate.check()
            if name.startswith("hogql:"):
                self.budget.acquire()  # once per query, however many attempts it takes
            for attempt in stamina.retry_context(
                on=_is_transient,
                attempts=self._attempts,
                timeout=self._retry_timeout,
                wait_initial=0.5,
                wait_max=10.0,
            ):
                with attempt:
                    return self._send_once(method, path, name, **kwargs)
        except (PostHogBudgetExhausted, PostHogThrottled) as error:
            self.stopped_by = error
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        if self._on_request is not None:
            self._on_request(name.partition(":")[2] or name)
        try:
            response = self._http.request(method, f"{self._base}{path}", **kwargs)
        except httpx.TransportError as error:
            logger.warning("posthog.request.failed", extra={"query": name, "error": repr(error)})
            raise PostHogUnavailable(f"PostHog is unreachable ({type(error).__name__})") from error
        try:
            raise_for_response(response, name)
        except PostHogRateLimited as error:
            wait = error.retry_after
            if wait is not None and wait > self._retry_timeout:
                # Longer than we retry for: stop asking until PostHog's time has passed.
                logger.warning("posthog.throttled", extra={"query": name, "wait": wait})
                raise self.gate.close_for(wait) from error
            raise
        try:
            return response.json()
        except ValueError as error:
            raise PostHogUnavailable(f"PostHog sent a broken response to {name}") from error

    def query(
        self, hogql: str, values: dict[str, Any], *, name: str, refresh: str = "blocking"
    ) -> QueryResult:
        """Run one HogQL query. `values` fill `{placeholders}`; nothing is spliced.

        `refresh="blocking"` lets PostHog answer from its result cache while that is fresh
        (hours, for HogQL); `force_blocking` where a cached answer could hide something new."""
        body = {
            "query": {
                "kind": "HogQLQuery",
                "query": hogql,
                "values": values,
                "modifiers": {"convertToProjectTimezone": False},
            },
            "refresh": refresh,
            "name": f"clusters_bot_{name}",
        }
        return parse_rows(self._send("POST", "/query/", f"hogql:{name}", json=body), name)

    # -- runs ----------------------------------------------------------------------------

    def list_runs(self, since: datetime, *, limit: int = 200) -> list[RunSummary]:
        """Runs of every level and job, newest first, in ONE query."""
        result = self.query(
            queries.LIST_RUNS,
            {"events": list(CLUSTER_EVENTS), "since": _utc(since), "limit": limit},
            name="list_runs",
            refresh="force_blocking",  # PostHog's cache must never hide a new run
        )
        return [parse_run_summary(row) for row in result.rows()]

    def get_run(self, run_id: str) -> ClusteringRun:
        """One run by id, whatever the id's format: any id that exists is a run. The day in the
        id (as PostHog's UI reads it) only narrows the first search, plus a day of slack for
        emission after midnight; when that day holds nothing, the last 90 days are searched."""
        now = datetime.now(UTC)
        day = run_day(run_id)
        ranges = [(now - RUN_LOOKBACK, now + TRACE_MARGIN)]
        if day is not None:
            ranges.insert(0, (day, day + timedelta(days=2)))
        for date_from, date_to in ranges:
            result = self.query(
                queries.GET_RUN,
                {
                    "events": list(CLUSTER_EVENTS),
                    "run_id": run_id,
                    "date_from": _utc(date_from),
                    "date_to": _utc(date_to),
                },
                name="get_run",
            )
            row = first(result.rows())
            if row is not None:
                return parse_run(row)
        raise PostHogNotFound(f"No clustering run with id `{run_id}`")

    def get_runs(self, summaries: Sequence[RunSummary]) -> list[ClusteringRun]:
        """Several listed runs in one query; the caller keeps their items under
        `RUN_ITEMS_PER_QUERY`, which bounds the answer's size."""
        if not summaries:
            return []
        stamps = [s.timestamp for s in summaries]
        result = self.query(
            queries.GET_RUNS,
            {
                "events": list(CLUSTER_EVENTS),
                "run_ids": [s.run_id for s in summaries],
                "date_from": _utc(min(stamps) - timedelta(minutes=1)),
                "date_to": _utc(max(stamps) + timedelta(minutes=1)),
                "limit": 2 * len(summaries),
            },
            name="get_runs",
        )
        runs: dict[str, ClusteringRun] = {}
        for row in result.each_row():
            run = parse_run(row)
            runs.setdefault(run.run_id, run)
        return list(runs.values())

    def previous_run(self, run: RunSummary) -> ClusteringRun | None:
        """The latest earlier run of the same series (level, job), if any."""
        result = self.query(
            queries.PREVIOUS_RUN,
            {
                "event": run.level.event,
                "job_id": run.job_id,
                "run_id": run.run_id,
                "before": _utc(run.timestamp),
                "since": _utc(run.timestamp - RUN_LOOKBACK),
            },
            name="previous_run",
        )
        row = first(result.rows())
        return parse_run(row) if row else None

    # -- metrics -------------------------------------------------------------------------

    def item_metrics(
        self, level: Level, item_ids: Sequence[str], window: tuple[datetime, datetime]
    ) -> dict[str, ItemMetrics]:
        """Per-item cost/latency/tokens/errors, in ceil(len/ID_CHUNK) queries (one per run)."""
        template = queries.ITEM_METRICS.get(level)
        if template is None or not item_ids:
            return {}
        found: dict[str, ItemMetrics] = {}
        for chunk in _chunks(sorted(set(item_ids)), queries.ID_CHUNK):
            result = self.query(
                template,
                {
                    "item_ids": chunk,
                    "date_from": _utc(window[0]),
                    "date_to": _utc(window[1]),
                    "limit": queries.MAX_ROWS,
                },
                name=f"{level.value}_item_metrics",
            )
            found.update(_item_values(result, level))
        return found

    def run_item_metrics(
        self, level: Level, runs: Sequence[RunSummary], window: tuple[datetime, datetime]
    ) -> dict[str, ItemMetrics]:
        """Per-item values of every item of `runs` (all of `level`) over `window`, in ONE query:
        PostHog reads the item ids from the runs' own events. The caller keeps the runs' distinct
        items under `ITEMS_PER_QUERY`, so the answer is never cut."""
        template = queries.RUN_ITEM_METRICS.get(level)
        if template is None or not runs:
            return {}
        stamps = [run.timestamp for run in runs]
        result = self.query(
            template,
            {
                "event": level.event,
                "run_ids": sorted({run.run_id for run in runs}),
                "runs_from": _utc(min(stamps) - timedelta(minutes=1)),
                "runs_to": _utc(max(stamps) + timedelta(minutes=1)),
                "date_from": _utc(window[0]),
                "date_to": _utc(window[1]),
                "limit": queries.MAX_ROWS,
            },
            name=f"{level.value}_run_item_metrics",
        )
        values = _item_values(result, level)
        if len(values) >= queries.MAX_ROWS:
            logger.warning("posthog.item_metrics.cut", extra={"runs": len(runs)})
        return values

    def compute_metrics(self, run: ClusteringRun) -> dict[int, ClusterMetrics]:
        """Metrics for the clusters whose embedded `metrics` are missing or null."""
        missing = [c for c in run.clusters if c.metrics is None]
        if not missing or run.level not in queries.ITEM_METRICS:
            return {}  # evaluation-level metrics exist only embedded
        if run.window_start is None or run.window_end is None:
            return {}
        ids = [item.item_id for cluster in missing for item in cluster.items]
        per_item = self.item_metrics(run.level, ids, (run.window_start, run.window_end))
        return {c.cluster_id: aggregate_cluster_metrics(c, per_item) for c in missing}

    def item_details(
        self, level: Level, item_ids: Sequence[str], window: tuple[datetime, datetime]
    ) -> dict[str, dict[str, Any]]:
        """Summary title, model and first error per item, in one query."""
        template = queries.ITEM_DETAILS.get(level)
        if template is None or not item_ids:
            return {}
        result = self.query(
            template,
            {
                "item_ids": list(dict.fromkeys(item_ids)),
                "date_from": _utc(window[0]),
                "date_to": _utc(window[1]),
                "limit": len(item_ids) + 1,
            },
            name=f"{level.value}_item_details",
        )
        return {str(row["item_id"]): row for row in result.rows()}

    def evaluation_targets(
        self, item_ids: Sequence[str], window: tuple[datetime, datetime]
    ) -> dict[str, EvaluationTarget]:
        """What each `$ai_evaluation` judged: its trace and target generation, in one query.
        Evaluations whose trace is unknown are left out (PostHog's UI hides their links)."""
        if not item_ids:
            return {}
        result = self.query(
            queries.EVALUATION_TARGETS,
            {
                "item_ids": list(dict.fromkeys(item_ids)),
                "date_from": _utc(window[0]),
                "date_to": _utc(window[1]),
                "limit": len(item_ids) + 1,
            },
            name="evaluation_targets",
        )
        found = {}
        for row in result.rows():
            target = EvaluationTarget.from_row(row)
            if target is not None:
                found[target.evaluation_id] = target
        return found

    # -- traces and jobs -----------------------------------------------------------------

    def get_trace(self, trace_id: str, around: datetime | None = None) -> LLMTrace:
        """One trace via TraceQuery; `around` (an item timestamp) bounds the search."""
        center = around or datetime.now(UTC)
        date_to = min(center + TRACE_MARGIN, datetime.now(UTC) + TRACE_MARGIN)
        date_from = center - (TRACE_MARGIN if around else timedelta(days=30))
        body = {
            "query": {
                "kind": "TraceQuery",
                "traceId": trace_id,
                "dateRange": {
                    "date_from": date_from.astimezone(UTC).isoformat(),
                    "date_to": date_to.astimezone(UTC).isoformat(),
                },
                "properties": [],
            }
        }
        payload = self._send("POST", "/query/", "trace_query", json=body)
        results = payload.get("results") if isinstance(payload, dict) else None
        if not results:
            raise PostHogNotFound(f"No trace with id `{trace_id}` around that time")
        try:
            return LLMTrace.model_validate(results[0])
        except ValueError as error:
            raise PostHogSchemaError(f"Unreadable trace `{trace_id}`") from error

    def list_jobs(self, *, page_size: int = 100) -> list[ClusteringJob]:
        """All clustering jobs, following LimitOffset pagination."""
        jobs: list[ClusteringJob] = []
        offset = 0
        while True:
            payload = self._send(
                "GET",
                "/llm_analytics/clustering_jobs/",
                "clustering_jobs",
                params={"limit": page_size, "offset": offset},
            )
            try:
                page = JobsPage.model_validate(payload)
            except ValueError as error:
                raise PostHogSchemaError("Unreadable clustering jobs page") from error
            jobs.extend(page.results)
            offset += len(page.results)
            if not page.next or not page.results:
                return jobs


def _item_values(result: QueryResult, level: Level) -> dict[str, ItemMetrics]:
    try:
        return {str(row["item_id"]): ItemMetrics.from_row(row) for row in result.each_row()}
    except (KeyError, TypeError, ValueError) as error:
        raise PostHogSchemaError(f"Unreadable {level.value} item values") from error


def _chunks(values: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


__all__ = ["PostHogClient", "PostHogError", "ThrottleGate", "raise_for_response"]
