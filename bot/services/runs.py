"""Loading runs: PostHog when new, the store forever after (runs are immutable once emitted).

A run is stored with its metrics completed (and, once alerting has looked at it, every item's
own values), so a cached run costs no query at all; the newest run list costs one query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.domain.models import ClusteringRun, Level, RunSummary
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogNotFound
from bot.posthog.metrics import ItemMetrics, aggregate_cluster_metrics
from bot.posthog.queries import ITEM_METRICS, RUNS_PER_QUERY
from bot.services.errors import CommandError
from bot.store.store import Store

logger = logging.getLogger(__name__)

RECENT = timedelta(days=30)
RECENT_LIMIT = 200
# Questions within this long reuse the run list: a burst of `/clusters` costs one query, not one
# each. Runs arrive once a day per job, so a list this fresh is as good as a new one.
RUN_LIST_TTL = 30.0


class RunRepository:
    def __init__(
        self,
        client: PostHogClient,
        store: Store,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        list_ttl: float = RUN_LIST_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self._list_ttl = list_ttl
        self._monotonic = monotonic
        self._lists: dict[tuple[timedelta, int], tuple[float, list[RunSummary]]] = {}
        self._lock = threading.Lock()

    def recent(
        self, since: timedelta = RECENT, limit: int = RECENT_LIMIT, *, fresh: bool = False
    ) -> list[RunSummary]:
        """Every run of every series in the window, newest first: one query, or none when the
        same list was fetched less than `list_ttl` seconds ago (unless `fresh`)."""
        key = (since, limit)
        now = self._monotonic()
        with self._lock:
            cached = self._lists.get(key)
        if not fresh and cached is not None and now - cached[0] < self._list_ttl:
            return cached[1]
        runs = self.client.list_runs(self.clock() - since, limit=limit)
        counts = self.store.cluster_counts([r.run_id for r in runs])
        runs = [
            r.model_copy(update={"cluster_count": counts[r.run_id]}) if r.run_id in counts else r
            for r in runs
        ]
        with self._lock:
            self._lists[key] = (now, runs)
        return runs

    def prefetch(self, summaries: Sequence[RunSummary]) -> None:
        """Load the listed runs the store does not have yet, `RUNS_PER_QUERY` to a query (a
        first cycle over 30 series needs 60 runs: 8 queries, not 60)."""
        wanted = list({s.run_id: s for s in summaries}.values())
        stored = set(self.store.cluster_counts([s.run_id for s in wanted]))
        missing = [s for s in wanted if s.run_id not in stored]
        for start in range(0, len(missing), RUNS_PER_QUERY):
            for run in self.client.get_runs(missing[start : start + RUNS_PER_QUERY]):
                self._complete(run)

    def get(
        self, run_id: str, *, with_values: bool = False, known: ClusteringRun | None = None
    ) -> ClusteringRun:
        """A run with its metrics; `with_values` also fills in every item's own values (what
        alerting compares), reusing those of `known` (an overlapping run) where it can."""
        cached = self.store.get_run(run_id)
        if cached is not None and (not with_values or self._has_values(cached)):
            return cached
        if cached is not None:
            return self._complete(cached, with_values=True, known=known)
        try:
            run = self.client.get_run(run_id)
        except PostHogNotFound:
            raise CommandError(
                f"No clustering run with id `{run_id}`. `/clusters runs` lists recent runs."
            ) from None
        return self._complete(run, with_values=with_values, known=known)

    def predecessor(self, run: RunSummary, listed: RunSummary | None) -> ClusteringRun | None:
        """The run before `run` in its series: `listed` when the run list shows it (the list
        holds every run of the look-back, so the next older one is the true predecessor), else
        asked of PostHog, since the store cannot know what happened while the bot was away."""
        if listed is not None:
            return self.get(listed.run_id)
        previous = self.client.previous_run(run)
        return self._complete(previous) if previous else None

    def previous(self, run: RunSummary) -> ClusteringRun | None:
        """The previous run of the same series: from the store when we have it."""
        cached = self.store.previous_run(run)
        if cached is not None and self._no_gap(cached, run):
            return cached
        previous = self.client.previous_run(run)
        return self._complete(previous) if previous else None

    def _no_gap(self, cached: ClusteringRun, run: RunSummary) -> bool:
        """A stored predecessor is surely the real one when it is the series' cursor run (or
        newer): alerting stores every run after the cursor, in order, before moving on."""
        cursor = self.store.series_cursor(run.series)
        return cursor is not None and cached.timestamp >= cursor

    def _complete(
        self, run: ClusteringRun, *, with_values: bool = False, known: ClusteringRun | None = None
    ) -> ClusteringRun:
        """Fill in per-item values and the metrics they give, when the run lacks metrics or
        `with_values`, from one per-item query (ceil(items/1500)); then cache the run. Items
        `known` already has values for are not asked for again."""
        if with_values or run.missing_metrics:
            values = self._item_values(run, known)
            run = run.with_item_values(values)
            missing = [c for c in run.clusters if c.metrics is None]
            if missing and values:
                run = run.with_metrics(
                    {c.cluster_id: aggregate_cluster_metrics(c, values) for c in missing}
                )
        self.store.save_run(run)
        return run

    def _item_values(
        self, run: ClusteringRun, known: ClusteringRun | None
    ) -> dict[str, ItemMetrics]:
        reused = {
            item.item_id: ItemMetrics(
                cost=item.cost or 0.0,
                latency=item.latency or 0.0,
                tokens=item.tokens or 0.0,
                errors=item.errors or 0,
            )
            for cluster in (known.clusters if known is not None else ())
            for item in cluster.items
            if item.has_values
        }
        wanted = {item.item_id for cluster in run.clusters for item in cluster.items}
        values = {item_id: reused[item_id] for item_id in wanted & reused.keys()}
        missing = sorted(wanted - values.keys())
        if missing and run.window_start is not None and run.window_end is not None:
            window = (run.window_start, run.window_end)
            values.update(self.client.item_metrics(run.level, missing, window))
        return values

    @staticmethod
    def _has_values(run: ClusteringRun) -> bool:
        """Whether alerting has what it needs of a stored run: its item values, or a level that
        has none (evaluation runs)."""
        return run.has_item_values or run.level not in ITEM_METRICS

    def latest(self, level: Level | None = None, job: str | None = None) -> ClusteringRun:
        summary = pick_latest(self.recent(), level, job)
        return self.get(summary.run_id)

    def latest_per_series(self, level: Level | None = None) -> list[ClusteringRun]:
        seen: set[tuple[str, str]] = set()
        runs = []
        for summary in self.recent():
            key = (summary.level.value, summary.job_id)
            if key in seen or (level and summary.level != level):
                continue
            seen.add(key)
            runs.append(self.get(summary.run_id))
        return runs


def pick_latest(runs: list[RunSummary], level: Level | None, job: str | None) -> RunSummary:
    """The newest run matching a level and a job (by id, exact name, or part of the name)."""
    candidates = [r for r in runs if level is None or r.level == level]
    if job:
        needle = job.strip().strip("\"'").casefold()
        exact = [r for r in candidates if needle in (r.job_id.casefold(), r.job_name.casefold())]
        candidates = exact or [r for r in candidates if needle in r.job_name.casefold()]
    if not candidates:
        scope = " ".join(
            filter(None, [level.value if level else None, f"job `{job}`" if job else None])
        )
        raise CommandError(
            f"No {scope + ' ' if scope else ''}clustering run in the last 30 days. "
            "`/clusters jobs` lists the jobs; PostHog clusters a project only once it has "
            "enough summarized traffic."
        )
    return candidates[0]
