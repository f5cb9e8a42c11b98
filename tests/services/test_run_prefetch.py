"""A cycle's prefetch keeps nothing it has stored: runs that need no values go as their batch is
read, and each shared window's runs go once stored, before the next window's values are asked.
So memory holds one batch and one window, however many series a project has."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest

from bot.domain.models import ClusteringRun, Level, RunSummary
from bot.posthog.metrics import ItemMetrics
from bot.services.runs import RunRepository
from bot.store.store import Store
from tests.services.test_run_source import NOW, MemoryRuns
from tests.support.factories import ids, make_cluster, make_metrics, make_run


class FreshRuns(MemoryRuns):
    """Answers with new run objects at every load, as PostHog's answers are parsed anew, and
    notes which loaded runs are still alive each time item values are asked for."""

    def __init__(self, runs: Sequence[ClusteringRun], values: dict[str, ItemMetrics]) -> None:
        super().__init__(runs, values)
        self.loaded: list[weakref.ref[ClusteringRun]] = []
        self.alive_at_values: list[set[str]] = []
        self.windows: list[set[str]] = []

    def get_runs(self, summaries: Sequence[RunSummary]) -> list[ClusteringRun]:
        runs = [run.model_copy(deep=True) for run in super().get_runs(summaries)]
        self.loaded += [weakref.ref(run) for run in runs]
        return runs

    def run_item_metrics(
        self, level: Level, runs: Sequence[RunSummary], window: tuple[datetime, datetime]
    ) -> dict[str, ItemMetrics]:
        gc.collect()
        self.alive_at_values.append({r.run_id for ref in self.loaded if (r := ref()) is not None})
        self.windows.append({run.run_id for run in runs})
        return super().run_item_metrics(level, runs, window)


def run_of(job: int, days_ago: int) -> ClusteringRun:
    at = NOW - timedelta(days=days_ago, minutes=job)
    return make_run(
        make_cluster(0, item_ids=ids(f"j{job}d{days_ago}-", 5), metrics=make_metrics()),
        run_id=f"{job}_trace_{at:%Y%m%d_%H%M%S}_job-{job}",
        job_id=f"job-{job}",
        timestamp=at,
        window_start=at - timedelta(days=7),
        window_end=at,
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.from_url(database_url)
    yield opened
    opened.engine.dispose()


def test_each_windows_runs_are_let_go_before_the_next_windows_values(store: Store) -> None:
    # Two jobs, three days: one shared window a day, each asked for its values; the oldest run
    # of job 0 is only a predecessor (embedded metrics, no values wanted).
    pending = [run_of(job, days) for days in (3, 2, 1) for job in (0, 1)]
    predecessor = run_of(0, 4)
    values = {
        i.item_id: ItemMetrics(0.01, 1.5, 300.0, 0) for r in pending for i in r.clusters[0].items
    }
    source = FreshRuns([predecessor, *pending], values)
    runs = RunRepository(source=source, store=store, clock=lambda: NOW)

    runs.prefetch([predecessor.summary, *(r.summary for r in pending)],
                  with_values={r.run_id for r in pending})  # fmt: skip

    assert source.asked.count("get_runs") == 1  # all seven runs in one load
    assert source.asked.count("run_item_metrics") == 3  # one per shared window
    assert source.windows == [{r.run_id for r in pending[k : k + 2]} for k in (0, 2, 4)]
    for k, alive in enumerate(source.alive_at_values):
        later = {r.run_id for r in pending[2 * k :]}
        assert alive <= later, f"window {k}: still alive {sorted(alive - later)}"
    assert predecessor.run_id not in set().union(*source.alive_at_values)
    gc.collect()
    assert [ref() for ref in source.loaded if ref() is not None] == []
    for run in pending:  # everything went to the store, with its values
        stored = store.get_run(run.run_id)
        assert stored is not None and stored.has_item_values
    assert store.get_run(predecessor.run_id) is not None
