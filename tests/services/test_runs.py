"""The run list is reused for RUN_LIST_CACHE_SECONDS, then asked for again; a run is loaded
with its items' own values and the metrics they give."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.domain.models import RunSummary
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.services.runs import RunRepository
from bot.store.store import Store
from standins.posthog.server import LocalPostHog
from standins.traffic.generator import SeriesSpec
from tests.support import worlds
from tests.support.clock import NOW


class CountingClient:
    """A narrow stand-in for PostHogClient.list_runs: counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def list_runs(self, since: datetime, *, limit: int = 200) -> list[RunSummary]:
        self.calls += 1
        return []


def test_run_list_is_reused_within_the_ttl_and_refetched_after(tmp_path: Path) -> None:
    client, now = CountingClient(), [0.0]
    runs = RunRepository(
        client,  # type: ignore[arg-type]
        Store.from_url(f"sqlite:///{tmp_path / 's.db'}"),
        list_ttl=30,
        monotonic=lambda: now[0],
    )
    runs.recent()
    now[0] = 29.9
    runs.recent()
    assert client.calls == 1
    runs.recent(fresh=True)  # the alert cycle always asks
    assert client.calls == 2
    now[0] = 70
    runs.recent()
    runs.recent(timedelta(days=8), limit=1000)  # another window is another list
    assert client.calls == 4


def test_a_run_without_embedded_metrics_gets_computed_ones_from_one_item_query(
    tmp_path: Path,
) -> None:
    """Main's per-item values and the computed label of wt-posthog, on one load: the run's
    query, then one per-item query for its (up to 1,500) items."""
    world = worlds.generate(
        seed=8,
        series=[SeriesSpec(level="trace", job_name="Default - traces")],
        runs=2,
        items_per_run=1500,
        now=NOW,
        embedded_metrics="absent",
    )
    newest = world.runs[-1]
    store = Store.from_url(f"sqlite:///{tmp_path / 's.db'}")
    with LocalPostHog(project_id=3, api_key="phx_runs") as posthog:
        posthog.insert_events(world.events)
        with httpx.Client(
            base_url=posthog.url, headers={"Authorization": "Bearer phx_runs"}, timeout=30
        ) as http:
            runs = RunRepository(PostHogClient(http, 3, budget=QueryBudget(100)), store)
            run = runs.get(newest.run_id, with_values=True)
            asked = len(posthog.hogql_log)
            again = runs.get(newest.run_id, with_values=True)  # from the store
            assert len(posthog.hogql_log) == asked
    store.engine.dispose()
    assert asked == 2  # the run, then its items' own values
    assert run.has_item_values and again == run
    metrics = [c.metrics for c in run.clusters]
    assert metrics and all(m is not None and m.computed for m in metrics)
    assert all(m.total_cost is not None and m.total_cost > 0 for m in metrics if m)
