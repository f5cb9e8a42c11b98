"""Loading runs: PostHog when new, the store forever after (runs are immutable once emitted).

A run is stored with its metrics completed, so a cached run costs no query at all; the newest
run list costs one query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain.models import ClusteringRun, Level, RunSummary
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogNotFound
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
        with self._lock:
            self._lists[key] = (now, runs)
        return runs

    def get(self, run_id: str) -> ClusteringRun:
        cached = self.store.get_run(run_id)
        if cached is not None:
            return cached
        try:
            run = self.client.get_run(run_id)
        except PostHogNotFound:
            raise CommandError(
                f"No clustering run with id `{run_id}`. `/clusters runs` lists recent runs."
            ) from None
        return self._complete(run)

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

    def _complete(self, run: ClusteringRun) -> ClusteringRun:
        """Fill missing metrics (ceil(items/1000) queries), then cache the run."""
        if run.missing_metrics:
            run = run.with_metrics(self.client.compute_metrics(run))
        self.store.save_run(run)
        return run

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
