"""Causes against the local PostHog: each planted cause is named, a uniform change names none,
one query per run's alerted clusters, and a short budget sends the alert without causes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bench.causes import CASES, CauseQuality, measure_causes
from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.compare import diff_runs
from bot.domain.run_view import RunView
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogBudgetExhausted
from bot.services.causes import CauseService
from standins.posthog.server import LocalPostHog
from standins.traffic.demo_check import as_loaded
from standins.traffic.generator import SeriesSpec, World
from tests.support import worlds
from tests.support.clock import NOW


@pytest.fixture(scope="module")
def measured() -> dict[str, CauseQuality]:
    return {q.cause: q for q in measure_causes(1)}


@pytest.mark.parametrize("cause", [c.value for c, _, _, d in CASES if d is not None])
def test_each_planted_cause_is_the_factor_named(
    measured: dict[str, CauseQuality], cause: str
) -> None:
    quality = measured[cause]
    assert quality.alerted == 1, quality
    assert quality.named == 1, quality.examples
    assert quality.false == 0


def test_a_uniform_cost_rise_names_no_cause(measured: dict[str, CauseQuality]) -> None:
    quality = measured["uniform"]
    assert quality.alerted == 1
    assert quality.false == 0, quality.examples


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=11,
        series=[SeriesSpec(level="trace", job_name="T")],
        runs=2,
        items_per_run=800,
        now=NOW,
    )


@pytest.fixture(scope="module")
def posthog(world: World) -> Iterator[LocalPostHog]:
    with LocalPostHog(project_id=2, api_key="phx_test") as server:
        server.insert_events(world.events)
        yield server


def client_with(posthog: LocalPostHog, http: httpx.Client, budget: int) -> PostHogClient:
    return PostHogClient(http, 2, budget=QueryBudget(budget))


def alerts_on_every_cluster(view: RunView) -> list[Alert]:
    run = view.diff.current
    kinds = [AlertKind.COST_SPIKE, AlertKind.ERROR_HEAVY, AlertKind.SIZE_SHIFT]
    return [
        Alert(
            kind=kinds[n % len(kinds)],
            severity=Severity.WARNING,
            cluster_id=c.cluster_id,
            previous_cluster_id=None,
            title=c.title,
            current_run_id=run.run_id,
            previous_run_id=view.diff.previous.run_id,
            fresh=True,
        )
        for n, c in enumerate(run.clusters)
        if not c.is_noise
    ]


def view_of(world: World) -> RunView:
    runs = [as_loaded(t.event, world.item_values) for t in world.runs]
    return RunView.of(diff_runs(runs[0], runs[1]))


def test_every_alerted_cluster_of_a_run_costs_one_query(
    posthog: LocalPostHog, world: World
) -> None:
    view = view_of(world)
    alerts = alerts_on_every_cluster(view)
    assert len(alerts) >= 4
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}) as http:
        service = CauseService(client_with(posthog, http, 100))
        posthog.hogql_log.clear()
        service.for_alerts(view, alerts)
        assert len(posthog.hogql_log) == 1
        service.for_alerts(view, alerts)  # a second channel of the same run
        assert len(posthog.hogql_log) == 1


def test_a_short_budget_sends_alerts_without_causes(posthog: LocalPostHog, world: World) -> None:
    view = view_of(world)
    alerts = alerts_on_every_cluster(view)
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}) as http:
        client = client_with(posthog, http, 1)
        client.budget.acquire()  # someone else spent it
        posthog.hogql_log.clear()
        assert CauseService(client).for_alerts(view, alerts) == {}
    assert posthog.hogql_log == []


def test_why_with_a_short_budget_says_so_instead_of_nothing(
    posthog: LocalPostHog, world: World
) -> None:
    view = view_of(world)
    cluster = next(c for c in view.diff.current.clusters if not c.is_noise)
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}) as http:
        client = client_with(posthog, http, 1)
        client.budget.acquire()
        with pytest.raises(PostHogBudgetExhausted):
            CauseService(client).for_cluster(view, cluster.cluster_id)
