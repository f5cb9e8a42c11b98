"""Loading one run from several threads and processes at once: one PostHog load per process,
and an insert that tolerates the row another process stored first (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from bot.domain.models import ClusteringRun
from bot.services.runs import RunRepository
from bot.store.store import Store
from tests.support.factories import ids, make_cluster, make_metrics, make_run

RUN = make_run(
    make_cluster(0, item_ids=ids("a", 12), metrics=make_metrics()),
    make_cluster(1, item_ids=ids("b", 8), metrics=make_metrics(avg_cost=0.2)),
)


class SlowRunSource:
    """A narrow stand-in for PostHogClient.get_run: counts loads, and holds each one until
    every caller has had the chance to start its own (so a missing lock shows)."""

    def __init__(self, callers: int) -> None:
        self.loads = 0
        self._lock = threading.Lock()
        self._all_started = threading.Barrier(callers)

    def get_run(self, run_id: str) -> ClusteringRun:
        with self._lock:
            self.loads += 1
        try:
            self._all_started.wait(timeout=0.5)  # with a per-run lock only one gets here
        except threading.BrokenBarrierError:
            pass
        return RUN


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.from_url(database_url)
    yield opened
    opened.engine.dispose()


def run_together(count: int, task: Any) -> tuple[list[Any], list[BaseException]]:
    start = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            results.append(task())
        except BaseException as error:  # collected: the assertion names it
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def test_four_events_for_one_run_load_it_once(store: Store) -> None:
    source = SlowRunSource(callers=4)
    scheduler = RunRepository(source, store)  # type: ignore[arg-type]
    commands = RunRepository(source, store)  # type: ignore[arg-type]
    repositories = iter([scheduler, commands, commands, commands])
    lock = threading.Lock()

    def load() -> ClusteringRun:
        with lock:
            repository = next(repositories)
        return repository.get(RUN.run_id)

    results, errors = run_together(4, load)
    assert errors == []
    assert results == [RUN] * 4
    assert source.loads == 1  # the other three read what the first stored
    assert store.get_run(RUN.run_id) == RUN


def test_a_run_another_process_stored_meanwhile_is_not_an_error(database_url: str) -> None:
    """The other process inserts the row between this one's look-up and its insert."""
    ours, theirs = Store.from_url(database_url), Store.from_url(database_url, migrate=False)
    fired: list[str] = []

    def other_process_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RUNS") and not fired:
            fired.append(statement)
            theirs.save_run(RUN)

    event.listen(ours.engine, "before_cursor_execute", other_process_first)
    try:
        richer = RUN.model_copy(update={"total_items": RUN.total_items + 1})
        ours.save_run(richer)
        assert fired  # the race did happen
        assert ours.get_run(RUN.run_id) == richer  # ours replaced theirs, as a merge does
        assert theirs.cluster_counts([RUN.run_id]) == {RUN.run_id: 2}
    finally:
        event.remove(ours.engine, "before_cursor_execute", other_process_first)
        ours.engine.dispose()
        theirs.engine.dispose()


def test_threads_of_two_processes_save_one_run_without_errors(database_url: str) -> None:
    stores = [Store.from_url(database_url), Store.from_url(database_url, migrate=False)]
    runs = [RUN.model_copy(update={"run_id": f"{RUN.run_id}-{n}"}) for n in range(5)]
    counter = iter(range(8 * len(runs)))
    lock = threading.Lock()

    def save_all() -> None:
        with lock:
            store = stores[next(counter) % 2]
        for run in runs:
            store.save_run(run)

    try:
        _, errors = run_together(8, save_all)
        assert errors == []
        assert set(stores[0].cluster_counts([r.run_id for r in runs])) == {r.run_id for r in runs}
    finally:
        for store in stores:
            store.engine.dispose()
