"""What a cycle costs in PostHog queries (issue 13 item 6): runs load several to a query, and
item values come once per shared window, with the same values as one query per run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import ClusteringRun, Level
from bot.posthog import queries
from bot.posthog.embeddings import assignment_query
from bot.posthog.metrics import aggregate_cluster_metrics
from bot.services.runs import load_batches, shared_windows
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import SeriesSpec, World, emit_next_runs, new_events
from tests.support import worlds
from tests.support.clock import NOW
from tests.support.factories import ids, make_cluster, make_run
from tests.support.hogql import parse_hogql

JOBS = [
    SeriesSpec(level="trace", job_name="Default - traces"),
    SeriesSpec(level="trace", job_name="Checkout assistant"),
    SeriesSpec(level="generation", job_name="Default - generations"),
    SeriesSpec(level="generation", job_name="Support generations"),
]


def make_world(metrics: str) -> World:
    # Runs of the last days, so the cycle's look-back lists each newest run's predecessor.
    return worlds.generate(  # made once per process for each `metrics`
        seed=11,
        series=JOBS,
        runs=2,
        items_per_run=1500,
        now=NOW,
        embedded_metrics=metrics,
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        yield running


def first_cycle(stack: Stack, world: World) -> list[str]:
    """The queries of one first cycle, less the one traits query of each run that alerted (its
    causes, counted here against the runs that posted a parent) and the one assignment query
    that finds this PostHog without summary embeddings (the other runs do not ask again)."""
    worlds.load(stack.posthog, world)
    report = stack.services.alerts.run_cycle()
    assert len(report.runs_processed) == len(JOBS)
    sent = list(stack.posthog.hogql_log)
    assigning = {assignment_query(Level.TRACE), assignment_query(Level.GENERATION)}
    assert sum(query in assigning for query in sent) == 1
    sent = [query for query in sent if query not in assigning]
    traits = [query for query in sent if query in queries.ITEM_TRAITS.values()]
    alerted = [m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]
    assert len(traits) == len(alerted)
    return [query for query in sent if query not in traits]


def test_first_cycle_with_embedded_metrics_asks_values_once_per_level(stack: Stack) -> None:
    sent = first_cycle(stack, make_world("present"))
    # The run list; the 8 runs (12,000 items) in one load; the newest runs' values, one query
    # for the two trace series and one for the two generation series (one per run before).
    assert sent.count(queries.GET_RUNS) == 1
    assert sent.count(queries.RUN_ITEM_METRICS[Level.TRACE]) == 1
    assert sent.count(queries.RUN_ITEM_METRICS[Level.GENERATION]) == 1
    assert len(sent) == 4
    for query in sent:
        parse_hogql(query)


def test_first_cycle_without_embedded_metrics_adds_one_query_per_earlier_window(
    stack: Stack,
) -> None:
    world = make_world("absent")
    sent = first_cycle(stack, world)
    # The runs before the newest need computed metrics: their window (a day earlier) is one
    # more query per level, not one per run.
    assert sent.count(queries.RUN_ITEM_METRICS[Level.TRACE]) == 2
    assert sent.count(queries.RUN_ITEM_METRICS[Level.GENERATION]) == 2
    assert len(sent) == 1 + 1 + 4
    store = stack.services.store
    for truth in world.runs:
        run = store.get_run(truth.run_id)
        assert run is not None and not run.missing_metrics
        assert all(c.metrics is not None and c.metrics.computed for c in run.clusters)


def test_steady_cycle_costs_one_query_plus_at_most_one_per_new_run(stack: Stack) -> None:
    world = make_world("present")
    first_cycle(stack, world)
    later = emit_next_runs(
        world, job_names=[spec.job_name for spec in JOBS], now=datetime.now(UTC)
    )  # one more run of each series
    stack.posthog.insert_events(new_events(world, later))
    before = len(stack.posthog.hogql_log)

    report = stack.services.alerts.run_cycle()

    assert len(report.runs_processed) == len(JOBS)
    spent = len(stack.posthog.hogql_log) - before
    assert spent == 1 + 1 + 2  # list, one load of the 4 new runs, values per level
    assert spent <= 1 + len(JOBS)


def test_values_per_window_equal_values_per_run(stack: Stack) -> None:
    """The stored item values and computed metrics, asked once per shared window, are what one
    query per run (by item ids, over the run's own window) gives."""
    world = make_world("absent")
    first_cycle(stack, world)
    client, store = stack.services.posthog, stack.services.store
    compared = 0
    for truth in world.runs:
        run = store.get_run(truth.run_id)
        assert run is not None and run.window_start is not None and run.window_end is not None
        item_ids = [item.item_id for cluster in run.clusters for item in cluster.items]
        per_run = client.item_metrics(run.level, item_ids, (run.window_start, run.window_end))
        assert per_run, truth.run_id
        for cluster in run.clusters:
            for item in cluster.items:
                old = per_run.get(item.item_id)
                assert (item.cost, item.latency, item.tokens, item.errors) == (
                    (old.cost, old.latency, old.tokens, old.errors) if old else (None,) * 4
                ), item.item_id
                compared += 1
            assert cluster.metrics == aggregate_cluster_metrics(cluster, per_run)
    stored = [store.get_run(truth.run_id) for truth in world.runs]
    assert compared == sum(run.item_count for run in stored if run is not None) > 0


# -- the cost of 30 series, pure ------------------------------------------------------------------

WINDOW_END = datetime(2026, 11, 27, 0, 15, tzinfo=UTC)


def run_of(job: int, level: Level, day: int) -> ClusteringRun:
    """A 1,500-item run of job `job`, `day` days before the newest; jobs of a level end their
    windows seconds apart, as PostHog's jobs do."""
    end = WINDOW_END - timedelta(days=day) + timedelta(seconds=job)
    prefix = f"{level.value}-{job}-{day}-"
    return make_run(
        make_cluster(0, item_ids=ids(prefix, 1000)),
        make_cluster(1, item_ids=ids(prefix, 500, start=1000)),
        run_id=f"2_{level.value}_{end:%Y%m%d_%H%M%S}_job-{job}",
        level=level,
        job_id=f"job-{job}",
        timestamp=end + timedelta(minutes=14),
        window_start=end - timedelta(days=7),
        window_end=end,
    )


def test_thirty_series_first_sight_is_six_loads_and_two_or_four_value_queries() -> None:
    levels = (Level.TRACE, Level.GENERATION, Level.EVALUATION)
    newest = [run_of(job, level, 0) for job in range(10) for level in levels]
    before = [run_of(job, level, 1) for job in range(10) for level in levels]
    batches = list(load_batches([r.summary for r in newest + before]))
    assert len(batches) == 6 and all(sum(r.total_items for r in b) <= 15_000 for b in batches)
    # Embedded metrics: values for the newest runs only; evaluation runs have none to ask for.
    assert len(shared_windows(newest)) == 2
    # Without: the runs a day before share a window of their own.
    groups = shared_windows(newest + before)
    assert len(groups) == 4
    assert all(len({r.level for r in g.runs}) == 1 and len(g.runs) == 10 for g in groups)
    assert 1 + len(batches) + len(groups) <= 120 // 2
