from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from standins.posthog.server import LocalPostHog
from standins.traffic.generator import Change, SeriesSpec, World
from tests.support import worlds
from tests.support.clock import NOW

SERIES = [
    SeriesSpec(level="trace", job_name="Default - traces"),
    SeriesSpec(level="generation", job_name="Default - generations"),
]


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=7,
        series=SERIES,
        runs=3,
        items_per_run=1500,
        now=NOW,
        embedded_metrics="mixed",
        planted={("Default - traces", 2): Change.COST_SPIKE},
    )


@pytest.fixture(scope="module")
def posthog(world: World) -> Iterator[LocalPostHog]:
    # A non-UTC project: the bot's queries must not depend on the project's timezone.
    with LocalPostHog(project_id=2, api_key="phx_test", timezone="America/New_York") as server:
        worlds.load(server, world)
        yield server


@pytest.fixture
def client(posthog: LocalPostHog) -> Iterator[PostHogClient]:
    posthog.faults.clear()
    posthog.hogql_log.clear()
    posthog.requests.clear()
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}, timeout=10
    ) as http:
        yield PostHogClient(http, 2, budget=QueryBudget(10_000))
