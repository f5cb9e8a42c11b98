"""`RunRepository` on an in-memory `RunSource`: runs listed, loaded once, given their item values
and stored, with no HTTP at all (PostHog's side of the same contract is tested against the local
PostHog in tests/services/test_runs.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.models import ClusteringRun, Level, RunSummary
from bot.posthog.errors import PostHogNotFound
from bot.posthog.metrics import ItemMetrics
from bot.services.errors import CommandError
from bot.services.runs import RunRepository, RunSource
from bot.store.store import Store
from tests.support.factories import ids, make_cluster, make_run

NOW = datetime.now(UTC).replace(microsecond=0)  # data built around the real now


class MemoryRuns:
    """Runs held in memory, answering as PostHog would; counts what it is asked."""

    def __init__(self, runs: Sequence[ClusteringRun], values: dict[str, ItemMetrics]) -> None:
        self.runs = sorted(runs, key=lambda r: r.timestamp, reverse=True)
        self.values = values
        self.asked: list[str] = []

    def list_runs(self, since: datetime, *, limit: int = 200) -> list[RunSummary]:
        self.asked.append("list_runs")
        return [r.summary for r in self.runs if r.timestamp >= since][:limit]

    def get_run(self, run_id: str) -> ClusteringRun:
        self.asked.append("get_run")
        for run in self.runs:
            if run.run_id == run_id:
                return run
        raise PostHogNotFound(run_id)

    def get_runs(self, summaries: Sequence[RunSummary]) -> list[ClusteringRun]:
        self.asked.append("get_runs")
        wanted = {s.run_id for s in summaries}
        return [r for r in self.runs if r.run_id in wanted]

    def previous_run(self, run: RunSummary) -> ClusteringRun | None:
        self.asked.append("previous_run")
        older = [r for r in self.runs if r.series == run.series and r.timestamp < run.timestamp]
        return older[0] if older else None

    def run_item_metrics(
        self, level: Level, runs: Sequence[RunSummary], window: tuple[datetime, datetime]
    ) -> dict[str, ItemMetrics]:
        self.asked.append("run_item_metrics")
        return dict(self.values)


def run_at(days_ago: int, prefix: str) -> ClusteringRun:
    at = NOW - timedelta(days=days_ago)
    return make_run(
        make_cluster(0, item_ids=ids(prefix, 4)),
        run_id=f"2_trace_{at:%Y%m%d_%H%M%S}_job-1",
        timestamp=at,
        window_start=at - timedelta(days=7),
        window_end=at,
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.from_url(database_url)
    yield opened
    opened.engine.dispose()


def test_the_repository_reads_runs_from_any_source_of_runs(store: Store) -> None:
    older, newer = run_at(2, "a"), run_at(1, "b")
    values = {item: ItemMetrics(0.01, 1.5, 300.0, 0) for item in ids("b", 4)}
    source = MemoryRuns([older, newer], values)
    typed: RunSource = source  # the in-memory source is one, as PostHogClient is
    runs = RunRepository(source=typed, store=store, clock=lambda: NOW)

    assert [r.run_id for r in runs.recent()] == [newer.run_id, older.run_id]
    loaded = runs.get(newer.run_id, with_values=True)
    assert loaded.has_item_values
    assert {i.item_id for c in loaded.clusters for i in c.items if i.has_values} == set(values)
    asked = len(source.asked)
    assert runs.get(newer.run_id, with_values=True) == loaded  # from the store now
    assert len(source.asked) == asked
    previous = runs.previous(newer.summary)
    assert previous is not None and previous.run_id == older.run_id


def test_a_run_the_source_does_not_have_is_a_command_error(store: Store) -> None:
    runs = RunRepository(source=MemoryRuns([], {}), store=store, clock=lambda: NOW)
    with pytest.raises(CommandError, match="No clustering run with id `nope`"):
        runs.get("nope")
