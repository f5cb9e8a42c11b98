"""Nearest-cluster assignment of each run's unsampled fresh items, against the local PostHog with
PostHog's summaries and embeddings of a generated world: the held-out agreement the data allow,
the items left unassigned, one query per run, and clean degradation when nothing can be read."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator

import httpx
import pytest

from bench.assigned import summary_of
from bot.domain.models import Level, RunSummary
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.embeddings import fetch_probes
from bot.services.assignment import (
    MARGIN,
    AssignmentService,
    AssignmentStatus,
    Unavailable,
    decide,
    relative_margin,
)
from standins.posthog.embeddings import drop_embeddings, load_summaries
from standins.posthog.server import LocalPostHog
from standins.traffic.embeddings import model_name_for
from standins.traffic.generator import RunTruth, SeriesSpec, World, generate
from tests.support.clock import NOW

DIM = 48
MODEL = model_name_for(DIM)
TRACES = SeriesSpec(level="trace", job_name="Default - traces", topics=10)
GENERATIONS = SeriesSpec(level="generation", job_name="Default - generations", topics=8)


@pytest.fixture(scope="module")
def world() -> World:
    return generate(
        seed=21,
        series=[TRACES, GENERATIONS],
        now=NOW,
        runs=3,
        items_per_run=1500,
        traces_per_day=700.0,
        events=False,
    )


@pytest.fixture(scope="module")
def posthog(world: World) -> Iterator[LocalPostHog]:
    with LocalPostHog(project_id=3, api_key="phx_test") as server:
        server.insert_events(world.events)
        server.set_jobs(world.jobs)
        load_summaries(server, world, dimension=DIM)
        yield server


@pytest.fixture
def client(posthog: LocalPostHog) -> Iterator[PostHogClient]:
    posthog.faults.clear()
    posthog.hogql_log.clear()
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}, timeout=30
    ) as http:
        yield PostHogClient(http, 3, budget=QueryBudget(10_000), attempts=1)


def latest(world: World, spec: SeriesSpec) -> tuple[RunTruth, RunTruth]:
    runs = world.runs_of(spec.job_name)
    return runs[-1], runs[-2]


@pytest.mark.parametrize("spec", [TRACES, GENERATIONS], ids=["trace", "generation"])
def test_held_out_agreement_is_high_and_the_fresh_unsampled_items_are_placed(
    world: World, client: PostHogClient, spec: SeriesSpec
) -> None:
    run, previous = latest(world, spec)
    service = AssignmentService(client, model_name=MODEL)
    result = service.assign(summary_of(run), fresh_from=previous.window_end)

    assert result.status is AssignmentStatus.ASSIGNED
    assert result.agreement is not None and result.agreement >= 0.8
    assert result.held_out >= 250 and result.held_out_assigned >= 0.6 * result.held_out
    assert result.usable
    fresh = {item.item_id for item in world.unsampled(run) if item.timestamp >= previous.window_end}
    placed = {item.item_id for item in result.assigned}
    assert placed <= fresh
    assert len(placed) + result.unassigned == len(fresh)
    assert len(placed) >= 0.6 * len(fresh)
    # Right by the truth: the cluster of the item's own topic in this run.
    right = [run.topic_of_cluster[a.cluster_id] == world.summarized[a.item_id].topic
             for a in result.assigned]  # fmt: skip
    assert statistics.mean(right) >= 0.8
    assert client.budget.spent == 1  # one query for the run


def test_unassigned_items_are_the_ones_without_a_clear_winner(
    world: World, client: PostHogClient
) -> None:
    run, previous = latest(world, TRACES)
    probes = [
        p
        for p in fetch_probes(
            client, summary_of(run), fresh_from=previous.window_end, model_name=MODEL
        )
        if not p.held_out
    ]
    assigned = [p for p in probes if decide(p) is not None]
    unassigned = [p for p in probes if decide(p) is None]
    assert assigned and unassigned
    for probe in assigned:
        assert relative_margin(probe) >= MARGIN
        assert probe.radius is not None and probe.distance is not None
        assert probe.distance <= probe.radius
    for probe in unassigned:
        assert probe.distance is not None and probe.radius is not None
        assert relative_margin(probe) < MARGIN or probe.distance > probe.radius
    assert statistics.median(relative_margin(p) for p in unassigned) < statistics.median(
        relative_margin(p) for p in assigned
    )
    # HDBSCAN's outliers fit no cluster: they are left out far more often than the others.
    outlier = {p.item_id for p in probes if world.summarized[p.item_id].outlier}
    left = {p.item_id for p in unassigned}
    regular = {p.item_id for p in probes} - outlier
    assert outlier
    assert len(left & outlier) / len(outlier) > 2 * len(left & regular) / len(regular)


def test_the_assignment_uses_placeholders_for_every_value(
    world: World, posthog: LocalPostHog, client: PostHogClient
) -> None:
    run, previous = latest(world, TRACES)
    AssignmentService(client, model_name=MODEL).assign(
        summary_of(run), fresh_from=previous.window_end
    )
    (request,) = [r for r in posthog.requests if r.path.endswith("/query/")][-1:]
    query = request.json["query"]
    for value in (run.run_id, run.series[1], MODEL):
        assert value not in query["query"]
    assert query["values"]["run_id"] == run.run_id


def test_a_posthog_without_embeddings_degrades_cleanly_and_logs_once(
    world: World, posthog: LocalPostHog, client: PostHogClient, caplog: pytest.LogCaptureFixture
) -> None:
    run, previous = latest(world, TRACES)
    service = AssignmentService(client, model_name=MODEL)
    caplog.set_level(logging.INFO, logger="bot.services.assignment")
    drop_embeddings(posthog.store)
    posthog.cache.clear()  # PostHog's result cache would answer as before
    try:
        first = service.assign(summary_of(run), fresh_from=previous.window_end)
        second = service.assign(summary_of(run), fresh_from=previous.window_end)
    finally:
        load_summaries(posthog, world, dimension=DIM)
        posthog.cache.clear()
    assert first.status is AssignmentStatus.UNAVAILABLE
    assert first.reason is Unavailable.MISSING and "upgrade PostHog" in first.fix
    assert not first.assigned and not first.usable
    assert second.reason is Unavailable.MISSING
    warnings = [r for r in caplog.records if r.getMessage() == "assignment.unavailable"]
    assert len(warnings) == 1
    assert service.last_unavailable == second


@pytest.mark.parametrize(
    ("status", "detail", "reason"),
    [
        (403, "You do not have permission to perform this action.", Unavailable.DENIED),
        (400, "Query exceeded the maximum execution time (timeout exceeded)", Unavailable.TIMEOUT),
        (500, "A server error occurred.", Unavailable.FAILED),
    ],
)
def test_a_refused_query_is_a_typed_result_not_an_exception(
    world: World,
    posthog: LocalPostHog,
    client: PostHogClient,
    status: int,
    detail: str,
    reason: Unavailable,
) -> None:
    run, previous = latest(world, TRACES)
    body = f'{{"type": "x", "code": "x", "detail": "{detail}", "attr": null}}'.encode()
    posthog.faults.add(status, body=body)
    result = AssignmentService(client, model_name=MODEL).assign(
        summary_of(run), fresh_from=previous.window_end
    )
    assert result.status is AssignmentStatus.UNAVAILABLE
    assert result.reason is reason and result.fix


def test_a_spent_budget_skips_the_run_without_raising(world: World, posthog: LocalPostHog) -> None:
    run, previous = latest(world, TRACES)
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}) as http:
        client = PostHogClient(http, 3, budget=QueryBudget(1))
        client.budget.acquire()
        result = AssignmentService(client, model_name=MODEL).assign(
            summary_of(run), fresh_from=previous.window_end
        )
    assert result.status is AssignmentStatus.UNAVAILABLE
    assert result.reason is Unavailable.BUDGET


def test_a_model_posthog_does_not_have_is_refused_and_reported(
    world: World, client: PostHogClient
) -> None:
    run, previous = latest(world, TRACES)
    result = AssignmentService(client, model_name="no-such-model").assign(
        summary_of(run), fresh_from=previous.window_end
    )
    assert result.status is AssignmentStatus.UNAVAILABLE and result.reason is Unavailable.FAILED


def test_evaluation_runs_have_no_summaries_to_assign(client: PostHogClient) -> None:
    run = RunSummary(run_id="r", level=Level.EVALUATION, total_items=10, timestamp=NOW)
    result = AssignmentService(client).assign(run, fresh_from=NOW)
    assert result.status is AssignmentStatus.UNSUPPORTED
    assert client.budget.spent == 0
