"""Loading runs: PostHog when new, the store forever after (runs are immutable once emitted).

A run is stored with its metrics completed (and, once alerting has looked at it, every item's
own values), so a cached run costs no query at all; the newest run list costs one query.
Runs are loaded several to a query (`RUN_ITEMS_PER_QUERY` items' worth), and item values are
asked once per shared window: runs of one level and day share a window, and one query over it
serves all of them (`ITEMS_PER_QUERY` items at most).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain.models import ClusteringRun, Level, RunSummary
from bot.posthog.errors import PostHogNotFound
from bot.posthog.metrics import ItemMetrics, aggregate_cluster_metrics
from bot.posthog.queries import ITEM_METRICS, ITEMS_PER_QUERY, RUN_ITEMS_PER_QUERY
from bot.services.errors import CommandError
from bot.store.ports import RunCache

logger = logging.getLogger(__name__)

RECENT = timedelta(days=30)
RECENT_LIMIT = 200
# Questions within this long reuse the run list: a burst of `/clusters` costs one query, not one
# each. Runs arrive once a day per job, so a list this fresh is as good as a new one.
RUN_LIST_TTL = 30.0
# Runs of one level whose windows start and end within this of each other share one per-item
# query over the union of their windows: PostHog starts the jobs of a level together, so their
# windows differ by seconds to minutes; consecutive runs of a job (a day apart) do not share.
WINDOW_SLACK = timedelta(hours=1)


class KeyedLocks:
    """One lock per key, kept only while someone holds or waits for it; thread-safe."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key -> (lock, holders)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, holders = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, holders + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, holders = self._locks[key]
                if holders == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, holders - 1)


# Shared by every repository of the process (the scheduler's and the commands'), which share
# one store: a run is loaded by one of them at a time.
LOADING = KeyedLocks()


class RunSource(Protocol):
    """Where runs come from: all a `RunRepository` asks of PostHog (`PostHogClient` is one), so
    a test can hand it runs from memory, with no HTTP at all."""

    def list_runs(self, since: datetime, *, limit: int = ...) -> list[RunSummary]:
        """Every run emitted since `since`, newest first, at most `limit`."""
        ...

    def get_run(self, run_id: str) -> ClusteringRun:
        """One run by id; raises `PostHogNotFound` when there is none."""
        ...

    def get_runs(self, summaries: Sequence[RunSummary]) -> list[ClusteringRun]:
        """The listed runs (those that exist), in one go."""
        ...

    def previous_run(self, run: RunSummary) -> ClusteringRun | None:
        """The latest earlier run of the same series (level, job), if any."""
        ...

    def run_item_metrics(
        self, level: Level, runs: Sequence[RunSummary], window: tuple[datetime, datetime]
    ) -> dict[str, ItemMetrics]:
        """Every item's own values (cost, latency, tokens, error) for `runs`, all of `level`,
        from the events within `window`; keyed by item id."""
        ...


class RunRepository:
    def __init__(
        self,
        source: RunSource,
        store: RunCache,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        list_ttl: float = RUN_LIST_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
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
        runs = self.source.list_runs(self.clock() - since, limit=limit)
        counts = self.store.cluster_counts([r.run_id for r in runs])
        runs = [
            r.model_copy(update={"cluster_count": counts[r.run_id]}) if r.run_id in counts else r
            for r in runs
        ]
        with self._lock:
            self._lists[key] = (now, runs)
        return runs

    def prefetch(
        self, summaries: Sequence[RunSummary], *, with_values: Collection[str] = ()
    ) -> None:
        """Load the listed runs the store does not have yet, several to a query, and fill in
        item values where a run lacks metrics or is named in `with_values` (what alerting
        compares), one query per shared window: a first cycle over 30 series of 1,500-item runs
        (60 runs) costs 6 queries to load and 2 for values (trace and generation level).

        Everything goes to the store and nothing stays in memory: a run that needs no values is
        stored and let go as its batch is read, and the runs waiting for values are let go one
        shared window at a time, so memory holds one batch and one window, however many series
        there are."""
        groups = self._load_waiting_for_values(summaries, with_values)
        while groups:  # each window's runs are let go once stored
            self._complete_window(groups.pop(0))

    def _load_waiting_for_values(
        self, summaries: Sequence[RunSummary], with_values: Collection[str]
    ) -> list[SharedWindow]:
        """Load and store what `prefetch` needs; return the runs that wait for item values,
        grouped by shared window (the only runs still held when this returns)."""
        wanted = list({s.run_id: s for s in summaries}.values())
        stored = set(self.store.cluster_counts([s.run_id for s in wanted]))
        missing = sorted((s for s in wanted if s.run_id not in stored), key=lambda s: s.timestamp)
        waiting: list[ClusteringRun] = []
        for batch in load_batches(missing):
            for run in self.source.get_runs(batch):
                if not run.missing_metrics:  # complete for questions; alerting may want values
                    self.store.save_run(run)
                if self._wants_values(run, with_values):
                    waiting.append(run)
        for run_id in stored.intersection(with_values):
            cached = self.store.get_run(run_id)
            if cached is not None and self._wants_values(cached, with_values):
                waiting.append(cached)
        groups = shared_windows(waiting)
        self._store_unwindowed(waiting, groups)
        return groups

    def get(self, run_id: str, *, with_values: bool = False) -> ClusteringRun:
        """A run with its metrics; `with_values` also fills in every item's own values (what
        alerting compares).

        One loader per run in this process: events that ask for one run together (four links
        to it in one message) wait for the first to load it and read what it stored, rather
        than each querying PostHog and racing to insert the same row."""
        cached = self.store.get_run(run_id)
        if cached is not None and (not with_values or self._has_values(cached)):
            return cached
        with LOADING.hold(run_id):
            return self._load(run_id, with_values=with_values)

    def _load(self, run_id: str, *, with_values: bool) -> ClusteringRun:
        cached = self.store.get_run(run_id)  # again: another loader may have just stored it
        if cached is not None and (not with_values or self._has_values(cached)):
            return cached
        if cached is not None:
            return self._complete(cached, with_values=True)
        try:
            run = self.source.get_run(run_id)
        except PostHogNotFound:
            raise CommandError(
                f"No clustering run with id `{run_id}`. `/clusters runs` lists recent runs."
            ) from None
        return self._complete(run, with_values=with_values)

    def predecessor(self, run: RunSummary, listed: RunSummary | None) -> ClusteringRun | None:
        """The run before `run` in its series: `listed` when the run list shows it (the list
        holds every run of the look-back, so the next older one is the true predecessor), else
        asked of PostHog, since the store cannot know what happened while the bot was away."""
        if listed is not None:
            return self.get(listed.run_id)
        previous = self.source.previous_run(run)
        return self._complete(previous) if previous else None

    def previous(self, run: RunSummary) -> ClusteringRun | None:
        """The previous run of the same series: from the store when we have it."""
        cached = self.store.previous_run(run)
        if cached is not None and self._no_gap(cached, run):
            return cached
        previous = self.source.previous_run(run)
        return self._complete(previous) if previous else None

    def _no_gap(self, cached: ClusteringRun, run: RunSummary) -> bool:
        """A stored predecessor is surely the real one when it is the series' cursor run (or
        newer): alerting stores every run after the cursor, in order, before moving on."""
        cursor = self.store.series_cursor(run.series)
        return cursor is not None and cached.timestamp >= cursor

    def _complete(self, run: ClusteringRun, *, with_values: bool = False) -> ClusteringRun:
        """Fill in per-item values and the metrics they give, when the run lacks metrics or
        `with_values`, from one per-item query; then cache the run."""
        if with_values or run.missing_metrics:
            return self._complete_all([run])[run.run_id]
        self.store.save_run(run)
        return run

    def _complete_all(self, runs: Sequence[ClusteringRun]) -> dict[str, ClusteringRun]:
        """Fill in the item values of `runs` (and the metrics they give where PostHog attached
        none) with one query per shared window, and store each run as its window is done."""
        groups = shared_windows(runs)
        done = {run.run_id: run for run in self._store_unwindowed(runs, groups)}
        for group in groups:
            done.update((run.run_id, run) for run in self._complete_window(group))
        return done

    def _complete_window(self, group: SharedWindow) -> list[ClusteringRun]:
        """The runs of one shared window with their item values (one query), each stored."""
        values = self.source.run_item_metrics(group.level, group.runs, group.window)
        done = []
        for run in group.runs:
            done.append(self._with_values(run, values))
            self.store.save_run(done[-1])
        group.runs.clear()  # the caller may keep the group; the runs are let go
        return done

    def _store_unwindowed(
        self, runs: Sequence[ClusteringRun], groups: Sequence[SharedWindow]
    ) -> list[ClusteringRun]:
        """Store, as they are, the runs with no values to be had (evaluation runs, runs without
        a window): no shared window holds them."""
        windowed = {run.run_id for group in groups for run in group.runs}
        alone = [run for run in runs if run.run_id not in windowed]
        for run in alone:
            self.store.save_run(run)
        return alone

    @staticmethod
    def _with_values(run: ClusteringRun, values: dict[str, ItemMetrics]) -> ClusteringRun:
        own = {
            item.item_id: values[item.item_id]
            for cluster in run.clusters
            for item in cluster.items
            if item.item_id in values
        }
        run = run.with_item_values(own)
        missing = [c for c in run.clusters if c.metrics is None]
        if missing and own:
            run = run.with_metrics(
                {c.cluster_id: aggregate_cluster_metrics(c, own) for c in missing}
            )
        return run

    def _wants_values(self, run: ClusteringRun, with_values: Collection[str]) -> bool:
        return run.missing_metrics or (run.run_id in with_values and not self._has_values(run))

    @staticmethod
    def _has_values(run: ClusteringRun) -> bool:
        """Whether alerting has what it needs of a stored run: its item values, or a level that
        has none (evaluation runs)."""
        return run.has_item_values or run.level not in ITEM_METRICS

    def latest(self, level: Level | None = None, job: str | None = None) -> ClusteringRun:
        summary = pick_latest(self.recent(), level, job)
        return self.get(summary.run_id)

    def latest_per_series(self, level: Level | None = None) -> list[ClusteringRun]:
        latest: dict[tuple[str, str], RunSummary] = {}
        for summary in self.recent():
            if level is None or summary.level == level:
                latest.setdefault((summary.level.value, summary.job_id), summary)
        self.prefetch(list(latest.values()))
        return [self.get(summary.run_id) for summary in latest.values()]


def load_batches(
    summaries: Sequence[RunSummary], items: int = RUN_ITEMS_PER_QUERY
) -> Iterator[list[RunSummary]]:
    """Consecutive runs, as many to a batch as keep their items (so the answer) under `items`;
    a larger run goes alone."""
    batch: list[RunSummary] = []
    size = 0
    for summary in summaries:
        own = max(summary.total_items, 1)
        if batch and size + own > items:
            yield batch
            batch, size = [], 0
        batch.append(summary)
        size += own
    if batch:
        yield batch


@dataclass
class SharedWindow:
    """Runs of one level whose windows start and end within `WINDOW_SLACK` of its first run's
    (`anchor`): one per-item query over `window`, the union of theirs, serves them all."""

    level: Level
    anchor: tuple[datetime, datetime]
    window: tuple[datetime, datetime]
    runs: list[ClusteringRun] = field(default_factory=list)
    item_ids: set[str] = field(default_factory=set)

    def admits(self, level: Level, window: tuple[datetime, datetime], ids: set[str]) -> bool:
        return (
            level == self.level
            and abs(window[0] - self.anchor[0]) <= WINDOW_SLACK
            and abs(window[1] - self.anchor[1]) <= WINDOW_SLACK
            and len(self.item_ids | ids) <= ITEMS_PER_QUERY
        )

    def add(self, run: ClusteringRun, window: tuple[datetime, datetime], ids: set[str]) -> None:
        self.runs.append(run)
        self.item_ids |= ids
        self.window = (min(self.window[0], window[0]), max(self.window[1], window[1]))


def shared_windows(runs: Sequence[ClusteringRun]) -> list[SharedWindow]:
    """The runs that have item values to ask for (a level with per-item metrics, a window),
    grouped so that one query serves each group: one level, windows within `WINDOW_SLACK`, at
    most `ITEMS_PER_QUERY` distinct items (a larger run goes alone)."""
    windowed = [
        (run, (run.window_start, run.window_end))
        for run in runs
        if run.level in ITEM_METRICS and run.window_start is not None and run.window_end is not None
    ]
    groups: list[SharedWindow] = []
    for run, window in sorted(windowed, key=lambda rw: (rw[0].level.value, rw[1][1], rw[0].run_id)):
        ids = {item.item_id for cluster in run.clusters for item in cluster.items}
        if not groups or not groups[-1].admits(run.level, window, ids):
            groups.append(SharedWindow(run.level, window, window))
        groups[-1].add(run, window, ids)
    return groups


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
