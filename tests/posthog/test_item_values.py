"""The own values of items no run sampled, in one query against the local PostHog: the same
numbers the generator gave those items, as for a run's sampled items; the queries parse with
PostHog's grammar and carry no value of their own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.domain.models import Level
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.item_values import ITEM_VALUES, fetch_item_values
from standins.posthog.hogql_check import check_functions
from standins.posthog.server import LocalPostHog
from standins.traffic.generator import SeriesSpec, World
from tests.support import worlds
from tests.support.clock import NOW
from tests.support.hogql import parse_hogql, string_constants

TRACES = SeriesSpec(level="trace", job_name="Default - traces", topics=6)
GENERATIONS = SeriesSpec(level="generation", job_name="Default - generations", topics=6)
ALLOWED_CONSTANTS = {"$ai_generation", "$ai_embedding", "$ai_span", "true"}


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=5,
        series=[TRACES, GENERATIONS],
        now=NOW,
        runs=2,
        items_per_run=300,
        traces_per_day=500.0,
    )


@pytest.fixture(scope="module")
def posthog(world: World) -> Iterator[LocalPostHog]:
    with LocalPostHog(project_id=4, api_key="phx_test") as server:
        worlds.load(server, world)
        yield server


@pytest.fixture
def client(posthog: LocalPostHog) -> Iterator[PostHogClient]:
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}, timeout=30
    ) as http:
        yield PostHogClient(http, 4, budget=QueryBudget(10_000), attempts=1)


@pytest.mark.parametrize("level", sorted(ITEM_VALUES, key=str))
def test_query_parses_and_calls_only_hogql_functions(level: Level) -> None:
    ast = parse_hogql(ITEM_VALUES[level])
    check_functions(ast)
    assert set(string_constants(ast)) <= ALLOWED_CONSTANTS


@pytest.mark.parametrize("spec", [TRACES, GENERATIONS], ids=["trace", "generation"])
def test_unsampled_items_get_the_values_their_events_hold_in_one_query(
    world: World, client: PostHogClient, spec: SeriesSpec
) -> None:
    previous, run = world.runs_of(spec.job_name)[-2:]
    unsampled = [i for i in world.unsampled(run) if i.timestamp > previous.window_end]
    assert len(unsampled) >= 100
    level = Level(spec.level)
    ids = [i.item_id for i in unsampled] + ["no-such-item"]
    found = fetch_item_values(client, level, ids, (previous.window_end, run.window_end))

    assert client.budget.spent == 1
    assert set(found) == {i.item_id for i in unsampled}  # the unknown id is simply absent
    for item in unsampled:
        values = found[item.item_id]
        assert values.trace_id == item.trace_id
        assert values.metrics.cost == pytest.approx(item.metrics.cost or 0.0)
        assert (values.metrics.errors > 0) == (item.metrics.error_count > 0)
        assert values.metrics.tokens == (item.metrics.input_tokens or 0) + (
            item.metrics.output_tokens or 0
        )
        assert values.metrics.output_tokens == (item.metrics.output_tokens or 0)
        built = values.as_item(level)
        assert built.has_values and built.timestamp == item.timestamp
        assert built.output_tokens == values.metrics.output_tokens
    assert sum(v.generations for v in found.values()) >= len(found)


def test_no_ids_and_evaluations_cost_no_query(world: World, client: PostHogClient) -> None:
    run = world.runs_of(TRACES.job_name)[-1]
    assert run.window_start is not None and run.window_end is not None
    window = (run.window_start, run.window_end)
    assert fetch_item_values(client, Level.TRACE, [], window) == {}
    assert fetch_item_values(client, Level.EVALUATION, ["x"], window) == {}
    assert client.budget.spent == 0
