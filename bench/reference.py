"""A reference implementation of the seed workflow, to measure the bot against.

This is how a first script would watch PostHog's clustering runs: its own httpx calls to the
same query API, no cache and no store of runs.

- list runs: one HogQL query **per level** (trace, generation, evaluation), 3 in all;
- for every run it has not seen: fetch that run and the previous run of its job (2 queries);
- metrics: one HogQL query **per cluster**, with that cluster's id list, for both runs;
- compare: match clusters by item overlap, flag cost spikes, error-heavy, new and vanished
  clusters, and post one message per run with alerts to Slack (`chat.postMessage`).

Nothing is cached: the only state kept between polls is the set of run ids already seen (as
the seed script kept it, in a JSON file). Deliberately plain; it is a yardstick, not a product.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

LEVELS = ("trace", "generation", "evaluation")
LOOKBACK = timedelta(days=30)

LIST_RUNS = """
SELECT toString(properties.$ai_clustering_run_id) AS run_id,
    toString(properties.$ai_clustering_job_id) AS job_id,
    timestamp
FROM events
WHERE event = {event} AND timestamp >= toDateTime({since})
ORDER BY timestamp DESC
LIMIT 200"""

FETCH_RUN = """
SELECT toString(properties.$ai_clustering_run_id) AS run_id,
    toString(properties.$ai_clustering_job_id) AS job_id,
    toString(properties.$ai_window_start) AS window_start,
    toString(properties.$ai_window_end) AS window_end,
    properties.$ai_clusters AS clusters,
    timestamp
FROM events
WHERE event = {event} AND toString(properties.$ai_clustering_run_id) = {run_id}
  AND timestamp >= toDateTime({since})
LIMIT 1"""

FETCH_PREVIOUS = """
SELECT toString(properties.$ai_clustering_run_id) AS run_id,
    toString(properties.$ai_clustering_job_id) AS job_id,
    toString(properties.$ai_window_start) AS window_start,
    toString(properties.$ai_window_end) AS window_end,
    properties.$ai_clusters AS clusters,
    timestamp
FROM events
WHERE event = {event} AND toString(properties.$ai_clustering_job_id) = {job_id}
  AND timestamp < toDateTime({before}) AND timestamp >= toDateTime({since})
ORDER BY timestamp DESC
LIMIT 1"""

TRACE_METRICS = """
SELECT toString(properties.$ai_trace_id) AS item_id,
    sumIf(toFloat(properties.$ai_total_cost_usd), event IN ('$ai_generation', '$ai_embedding')),
    sumIf(toFloat(properties.$ai_latency), event = '$ai_generation'),
    countIf(toString(properties.$ai_is_error) = 'true')
FROM events
WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(properties.$ai_trace_id) IN {ids}
GROUP BY item_id
LIMIT 50000"""

GENERATION_METRICS = """
SELECT toString(uuid) AS item_id,
    toFloat(properties.$ai_total_cost_usd),
    toFloat(properties.$ai_latency),
    if(toString(properties.$ai_is_error) = 'true', 1, 0)
FROM events
WHERE event = '$ai_generation'
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(uuid) IN {ids}
LIMIT 50000"""

METRIC_QUERIES = {"trace": TRACE_METRICS, "generation": GENERATION_METRICS}


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Run:
    run_id: str
    level: str
    job_id: str
    timestamp: datetime
    window: tuple[datetime, datetime] | None
    clusters: list[dict[str, Any]]
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)


@dataclass
class Reference:
    """The seed workflow against one PostHog project and one Slack channel."""

    posthog_url: str
    project_id: int
    api_key: str
    slack_api_url: str | None = None
    slack_token: str = ""
    channel: str = ""
    timeout: float = 60.0
    queries: int = 0
    posts: int = 0

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.posthog_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=self.timeout,
        )

    def close(self) -> None:
        self._http.close()

    # -- PostHog ------------------------------------------------------------------------------

    def hogql(self, query: str, values: dict[str, Any]) -> list[list[Any]]:
        self.queries += 1
        response = self._http.post(
            f"/api/projects/{self.project_id}/query/",
            json={"query": {"kind": "HogQLQuery", "query": query, "values": values}},
        )
        response.raise_for_status()
        return list(response.json()["results"])

    def list_runs(self) -> list[tuple[str, str, str, datetime]]:
        """(run_id, level, job_id, timestamp) of every run, one query per level."""
        since = _utc(datetime.now(UTC) - LOOKBACK)
        runs = []
        for level in LEVELS:
            for run_id, job_id, ts in self.hogql(
                LIST_RUNS, {"event": f"$ai_{level}_clusters", "since": since}
            ):
                runs.append((str(run_id), level, str(job_id), _when(ts)))
        return sorted(runs, key=lambda r: r[3])

    def _run(self, level: str, row: list[Any]) -> Run:
        run_id, job_id, start, end, clusters, ts = row
        window = (_when(start), _when(end)) if start and end else None
        parsed = json.loads(clusters) if isinstance(clusters, str) else clusters
        return Run(str(run_id), level, str(job_id), _when(ts), window, list(parsed or []))

    def fetch(self, run_id: str, level: str) -> Run:
        since = _utc(datetime.now(UTC) - LOOKBACK)
        rows = self.hogql(
            FETCH_RUN, {"event": f"$ai_{level}_clusters", "run_id": run_id, "since": since}
        )
        return self._with_metrics(self._run(level, rows[0]))

    def previous(self, run: Run) -> Run | None:
        rows = self.hogql(
            FETCH_PREVIOUS,
            {
                "event": f"$ai_{run.level}_clusters",
                "job_id": run.job_id,
                "before": _utc(run.timestamp),
                "since": _utc(run.timestamp - LOOKBACK),
            },
        )
        return self._with_metrics(self._run(run.level, rows[0])) if rows else None

    def _with_metrics(self, run: Run) -> Run:
        """One query per cluster, with that cluster's item ids."""
        query = METRIC_QUERIES.get(run.level)
        if query is None or run.window is None:
            return run
        date_from, date_to = _utc(run.window[0]), _utc(run.window[1])
        for cluster in run.clusters:
            ids = list((cluster.get("traces") or {}).keys())
            if not ids:
                continue
            rows = self.hogql(query, {"ids": ids, "date_from": date_from, "date_to": date_to})
            costs = [float(r[1] or 0) for r in rows]
            latencies = [float(r[2] or 0) for r in rows]
            errors = sum(1 for r in rows if int(r[3] or 0) > 0)
            positive = [c for c in costs if c > 0]
            run.metrics[int(cluster["cluster_id"])] = {
                "avg_cost": sum(positive) / len(positive) if positive else 0.0,
                "avg_latency": sum(latencies) / len(latencies) if latencies else 0.0,
                "error_rate": errors / len(rows) if rows else 0.0,
                "items": float(len(rows)),
            }
        return run

    # -- the workflow ---------------------------------------------------------------------------

    def poll(self, seen: set[str], *, first_sight_newest_only: bool = True) -> list[str]:
        """One cycle: alert on every run not in `seen` (mutated); returns the runs processed."""
        runs = self.list_runs()
        new = [r for r in runs if r[0] not in seen]
        if first_sight_newest_only and not seen:
            newest: dict[tuple[str, str], tuple[str, str, str, datetime]] = {}
            for run in runs:
                newest[(run[1], run[2])] = run
            new = list(newest.values())
            seen.update(r[0] for r in runs)
        processed = []
        for run_id, level, _job, _ts in new:
            current = self.fetch(run_id, level)
            previous = self.previous(current)
            if previous is not None:
                alerts = compare(previous, current)
                if alerts:
                    self.post(f"Clustering run {run_id}: " + "; ".join(alerts))
            seen.add(run_id)
            processed.append(run_id)
        return processed

    def latest(self, level: str | None = None) -> Run:
        """`/clusters latest`: the newest run, with metrics."""
        runs = [r for r in self.list_runs() if level is None or r[1] == level]
        run_id, run_level, _job, _ts = runs[-1]
        return self.fetch(run_id, run_level)

    def top_cost(self) -> list[tuple[float, str, int]]:
        """`/clusters top cost`: the newest run of every job, ranked by cluster cost."""
        newest: dict[tuple[str, str], tuple[str, str]] = {}
        for run_id, level, job_id, _ts in self.list_runs():
            newest[(level, job_id)] = (run_id, level)
        ranked = []
        for run_id, level in newest.values():
            run = self.fetch(run_id, level)
            ranked += [(m["avg_cost"], run_id, cid) for cid, m in run.metrics.items()]
        return sorted(ranked, reverse=True)[:10]

    def compare_latest(self) -> list[str]:
        """`/clusters compare`: the newest run against its previous run."""
        current = self.latest()
        previous = self.previous(current)
        return compare(previous, current) if previous else []

    # -- Slack ------------------------------------------------------------------------------

    def post(self, text: str) -> None:
        if not self.slack_api_url:
            return
        response = httpx.post(
            f"{self.slack_api_url}chat.postMessage",
            headers={"Authorization": f"Bearer {self.slack_token}"},
            json={"channel": self.channel, "text": text},
            timeout=self.timeout,
        )
        response.raise_for_status()
        self.posts += 1


def compare(previous: Run, current: Run) -> list[str]:
    """Match clusters by item overlap; flag cost x1.5, error rate > 20 %, new and vanished."""
    before = {int(c["cluster_id"]): set((c.get("traces") or {}).keys()) for c in previous.clusters}
    alerts = []
    matched: set[int] = set()
    for cluster in current.clusters:
        cid = int(cluster["cluster_id"])
        if cid == -1:
            continue
        items = set((cluster.get("traces") or {}).keys())
        best, overlap = None, 0.0
        for old_id, old_items in before.items():
            union = len(items | old_items) or 1
            score = len(items & old_items) / union
            if old_id != -1 and score > overlap:
                best, overlap = old_id, score
        title = str(cluster.get("title") or cid)
        now = current.metrics.get(cid, {})
        if best is None or overlap < 0.1:
            alerts.append(f"new cluster {title}")
            continue
        matched.add(best)
        then = previous.metrics.get(best, {})
        if then.get("avg_cost") and now.get("avg_cost", 0) > 1.5 * then["avg_cost"]:
            alerts.append(f"cost spike in {title}")
        if now.get("error_rate", 0) > 0.2 >= then.get("error_rate", 0):
            alerts.append(f"errors in {title}")
    for old_id in before:
        if old_id != -1 and old_id not in matched:
            alerts.append(f"vanished cluster {old_id}")
    return alerts


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def load_seen(path: Path) -> set[str]:
    return set(json.loads(path.read_text())) if path.exists() else set()


def save_seen(path: Path, seen: set[str]) -> None:
    path.write_text(json.dumps(sorted(seen)))
