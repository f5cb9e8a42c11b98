"""The PostHog client against the local PostHog, over real HTTP, on generated data."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.domain.models import Level
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient, _is_transient
from bot.posthog.errors import (
    PostHogAuthError,
    PostHogBadQuery,
    PostHogBudgetExhausted,
    PostHogNotFound,
    PostHogRateLimited,
    PostHogUnavailable,
)
from standins.posthog.server import LocalPostHog
from standins.traffic.generator import World
from tests.support.clock import NOW
from tests.support.hogql import parse_hogql, string_constants

METRIC_FIELDS = (
    "avg_cost",
    "avg_latency",
    "avg_tokens",
    "total_cost",
    "error_rate",
    "error_count",
    "item_count",
)


def hogql_sent(posthog: LocalPostHog) -> int:
    return len(posthog.hogql_log)


def test_list_runs_is_one_query_newest_first_across_series(
    client: PostHogClient, posthog: LocalPostHog, world: World
) -> None:
    runs = client.list_runs(NOW - timedelta(days=30))
    assert hogql_sent(posthog) == 1
    assert [r.run_id for r in runs] == [
        r.run_id for r in sorted(world.runs, key=lambda r: r.timestamp, reverse=True)
    ]
    assert {r.level for r in runs} == {Level.TRACE, Level.GENERATION}
    truth = {r.run_id: r for r in world.runs}
    for run in runs:
        assert run.total_items == truth[run.run_id].total_items
        assert run.cluster_count is None  # the list does not parse $ai_clusters
        assert run.window_end == truth[run.run_id].window_end


def test_newest_and_previous_of_each_series_with_metrics_matching_truth(
    client: PostHogClient, posthog: LocalPostHog, world: World
) -> None:
    runs = client.list_runs(NOW - timedelta(days=30))
    newest = {}
    for summary in runs:
        newest.setdefault(summary.series, summary)
    assert len(newest) == 2
    for summary in newest.values():
        for loaded in (client.get_run(summary.run_id), client.previous_run(summary)):
            assert loaded is not None
            truth = world.run(loaded.run_id)
            assert {c.cluster_id: c.size for c in loaded.clusters} == truth.sizes
            before = hogql_sent(posthog)
            computed = client.compute_metrics(loaded)
            spent = hogql_sent(posthog) - before
            missing = [c for c in loaded.clusters if c.metrics is None]
            items = sum(len(c.items) for c in missing)
            assert spent <= math.ceil(items / 1000)
            complete = loaded.with_metrics(computed)
            for cluster in complete.clusters:
                assert cluster.metrics is not None, (loaded.run_id, cluster.cluster_id)
                expected = truth.metrics[cluster.cluster_id]
                for name in METRIC_FIELDS:
                    got, want = getattr(cluster.metrics, name), expected[name]
                    if want is None:
                        assert got is None, (name, cluster.cluster_id)
                    else:
                        assert got == pytest.approx(want, rel=1e-6), (name, cluster.cluster_id)


def test_previous_of_the_first_run_is_none(client: PostHogClient, world: World) -> None:
    first = world.runs_of("Default - traces")[0]
    run = client.get_run(first.run_id)
    assert client.previous_run(run) is None


def test_every_query_sent_parses_with_posthogs_hogql_parser(
    client: PostHogClient, posthog: LocalPostHog, world: World
) -> None:
    run = client.get_run(world.runs[-1].run_id)
    client.list_runs(NOW - timedelta(days=30))
    client.previous_run(run)
    client.compute_metrics(
        run.with_metrics({}).model_copy(
            update={"clusters": tuple(c.model_copy(update={"metrics": None}) for c in run.clusters)}
        )
    )
    for level_run in (run, client.get_run(world.runs_of("Default - traces")[-1].run_id)):
        items = level_run.clusters[0].representative(3)
        window = (level_run.window_start, level_run.window_end + timedelta(hours=2))
        details = client.item_details(level_run.level, [i.item_id for i in items], window)
        assert set(details) == {i.item_id for i in items}
        assert all(d["summary_title"] and d["model"] for d in details.values())
    assert hogql_sent(posthog) >= 6
    for query in posthog.hogql_log:
        parse_hogql(query)


def test_hostile_run_id_travels_only_as_a_placeholder_value(
    client: PostHogClient, posthog: LocalPostHog
) -> None:
    hostile = "2_trace_20260614_001502_x' OR 1=1 --"
    with pytest.raises(PostHogNotFound, match="No clustering run"):
        client.get_run(hostile)
    assert len(posthog.hogql_log) == 2  # the day in the id, then the last 90 days
    for query in posthog.hogql_log:
        assert "OR 1=1" not in query
        assert "OR 1=1" not in " ".join(string_constants(parse_hogql(query)))
    for request in [r for r in posthog.requests if "query" in r.path]:
        assert request.json["query"]["values"]["run_id"] == hostile
        assert request.json["query"]["modifiers"] == {"convertToProjectTimezone": False}


def test_every_query_has_an_explicit_limit(client: PostHogClient, posthog: LocalPostHog) -> None:
    run = client.get_run(client.list_runs(NOW - timedelta(days=30))[0].run_id)
    client.previous_run(run)
    for query in posthog.hogql_log:
        assert parse_hogql(query)["limit"] is not None, query


def test_trace_query_found_and_not_found(client: PostHogClient, world: World) -> None:
    run = client.get_run(world.runs[-1].run_id)
    item = next(i for c in run.clusters for i in c.items if i.timestamp is not None)
    trace = client.get_trace(item.trace_id, item.timestamp)
    assert trace.id == item.trace_id and trace.events
    assert any(e.event == "$ai_generation" for e in trace.events)
    with pytest.raises(PostHogNotFound, match="No trace"):
        client.get_trace("no-such-trace", item.timestamp)


def test_jobs_follow_pagination(client: PostHogClient, posthog: LocalPostHog, world: World) -> None:
    jobs = client.list_jobs(page_size=1)
    assert sorted(j.name for j in jobs) == sorted(j["name"] for j in world.jobs)
    pages = [r for r in posthog.requests if "clustering_jobs" in r.path]
    assert len(pages) == len(world.jobs)


def test_wrong_api_key_is_an_auth_error(posthog: LocalPostHog) -> None:
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_wrong"}) as http:
        client = PostHogClient(http, 2)
        with pytest.raises(PostHogAuthError, match="POSTHOG_API_KEY"):
            client.list_runs(NOW - timedelta(days=1))


def test_unknown_project_is_not_found(posthog: LocalPostHog) -> None:
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}) as http:
        with pytest.raises(PostHogNotFound, match="POSTHOG_PROJECT_ID"):
            PostHogClient(http, 999).list_runs(NOW - timedelta(days=1))


def test_429_with_retry_after_is_retried(client: PostHogClient, posthog: LocalPostHog) -> None:
    posthog.faults.add(429, count=2, retry_after=0.01)
    assert client.list_runs(NOW - timedelta(days=30))
    assert [r.status for r in posthog.requests] == [429, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_then_succeeds(
    client: PostHogClient, posthog: LocalPostHog, status: int
) -> None:
    posthog.faults.add(status, count=2)
    assert client.list_runs(NOW - timedelta(days=30))
    assert [r.status for r in posthog.requests] == [status, status, 200]


def test_persistent_5xx_gives_up_after_bounded_attempts(
    client: PostHogClient, posthog: LocalPostHog
) -> None:
    posthog.faults.add(500, count=50)
    with pytest.raises(PostHogUnavailable):
        client.list_runs(NOW - timedelta(days=30))
    assert len(posthog.requests) == 4


def test_persistent_429_surfaces_as_rate_limited(
    client: PostHogClient, posthog: LocalPostHog
) -> None:
    posthog.faults.add(429, count=50, retry_after=7)
    with pytest.raises(PostHogRateLimited) as error:
        client.list_runs(NOW - timedelta(days=30))
    assert error.value.retry_after == 7
    assert len(posthog.requests) == 4


def test_bad_query_is_not_retried(client: PostHogClient, posthog: LocalPostHog) -> None:
    with pytest.raises(PostHogBadQuery) as error:
        client.query("SELECT nope_function(1) FROM events LIMIT 1", {}, name="broken")
    assert "nope_function" in str(error.value) or "400" in str(error.value)
    assert len(posthog.requests) == 1


def test_dropped_connection_and_broken_json_are_retried(
    client: PostHogClient, posthog: LocalPostHog
) -> None:
    posthog.faults.add(200, count=1, drop_connection=True)
    posthog.faults.add(200, count=1, body=b'{"results": [[1, 2')
    assert client.list_runs(NOW - timedelta(days=30))
    assert len(posthog.requests) == 3


def test_spent_budget_fails_fast_without_a_request(posthog: LocalPostHog) -> None:
    with httpx.Client(base_url=posthog.url, headers={"Authorization": "Bearer phx_test"}) as http:
        client = PostHogClient(http, 2, budget=QueryBudget(2))
        client.list_runs(NOW - timedelta(days=1))
        client.list_runs(NOW - timedelta(days=1))
        posthog.requests.clear()
        with pytest.raises(PostHogBudgetExhausted, match="budget"):
            client.list_runs(NOW - timedelta(days=1))
        assert posthog.requests == []


def test_retry_hook_honours_retry_after_and_never_retries_4xx() -> None:
    assert _is_transient(PostHogRateLimited("x", retry_after=12.5)) == 12.5
    assert _is_transient(PostHogRateLimited("x")) is True
    assert _is_transient(PostHogUnavailable("x")) is True
    assert _is_transient(PostHogBudgetExhausted("x", retry_after=30)) is False
    assert _is_transient(PostHogBadQuery("x")) is False
    assert _is_transient(PostHogAuthError("x")) is False


@pytest.mark.parametrize(
    "run_id",
    [
        "2_20200101_000000",  # before levels; its day says 2020, the run is from this week
        "2_evaluation_019cb7f3-a126-7809-bffc-7f13bffe1325_20261120_064503",
        "team_2_2026-11-01T00:00:00Z",
        "2_trace_manual-label-without-a-date",
    ],
)
def test_any_run_id_that_exists_is_a_run_whatever_its_shape(world: World, run_id: str) -> None:
    source = next(e for e in world.events if e["event"] == "$ai_trace_clusters")
    event = {
        **source,
        "uuid": "00000000-0000-4000-8000-000000000001",
        "timestamp": datetime.now(UTC) - timedelta(days=2),
        "properties": {**source["properties"], "$ai_clustering_run_id": run_id},
    }
    with LocalPostHog(project_id=2, api_key="phx_test") as server:
        server.insert_events([event])
        with httpx.Client(
            base_url=server.url, headers={"Authorization": "Bearer phx_test"}, timeout=10
        ) as http:
            client = PostHogClient(http, 2, budget=QueryBudget(100))
            run = client.get_run(run_id)
            assert run.run_id == run_id
            assert len(run.clusters) == len(source["properties"]["$ai_clusters"])
            assert len(server.hogql_log) <= 2  # the hinted day, then the last 90 days
            with pytest.raises(PostHogNotFound):
                client.get_run(run_id + "_missing")
