"""Item traits for the causes of an alert: one query per run, accepted by the strict sandbox."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogBudgetExhausted
from bot.posthog.traits import fetch_item_traits
from standins.posthog.server import LocalPostHog
from standins.traffic.generator import World
from tests.support.hogql import parse_hogql


@pytest.mark.parametrize(
    ("job", "named"), [("Default - traces", True), ("Default - generations", False)]
)
def test_item_traits_of_every_alerted_cluster_in_one_query(
    client: PostHogClient, posthog: LocalPostHog, world: World, job: str, named: bool
) -> None:
    run = client.get_run(world.runs_of(job)[-1].run_id)
    assert run.window_start is not None and run.window_end is not None
    ids = [i.item_id for c in run.clusters[:3] for i in c.items]
    posthog.hogql_log.clear()
    traits = fetch_item_traits(
        client, run.level, ids, (run.window_start, run.window_end + timedelta(hours=2))
    )
    assert len(posthog.hogql_log) == 1
    parse_hogql(posthog.hogql_log[0])
    assert set(traits) == set(ids)
    assert all(t.model and t.provider and t.user and t.generations >= 1 for t in traits.values())
    assert all(t.input_tokens > 0 and t.cost > 0 for t in traits.values())
    failed = [t for t in traits.values() if t.failed]
    assert all(t.http_status and t.http_status != "200" for t in failed)
    assert {bool(t.name) for t in traits.values()} == {named}  # trace names at trace level


def test_item_traits_spend_from_the_budget_and_stop_when_it_is_short(
    posthog: LocalPostHog, world: World
) -> None:
    run_truth = world.runs_of("Default - traces")[-1]
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}, timeout=10
    ) as http:
        client = PostHogClient(http, 2, budget=QueryBudget(1))
        run = client.get_run(run_truth.run_id)  # spends the only query
        assert run.window_start is not None and run.window_end is not None
        posthog.hogql_log.clear()
        with pytest.raises(PostHogBudgetExhausted):
            fetch_item_traits(client, run.level, ["x"], (run.window_start, run.window_end))
    assert posthog.hogql_log == []
