"""The local PostHog refuses and behaves as PostHog does where the bot depends on it (issue 13,
"A local PostHog as strict as PostHog")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogQueryTimeout, PostHogRateLimited
from standins.posthog.server import LocalPostHog
from tests.support.local_posthog import PROJECT_ID, gen_event, hogql

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def post(server: LocalPostHog, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/projects/{server.project_id}/query/",
        json=body,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=30,
    )


def query_body(query: str, **extra: object) -> dict[str, object]:
    inner: dict[str, object] = {"kind": "HogQLQuery", "query": query}
    inner.update({k: v for k, v in extra.items() if k in ("values", "modifiers")})
    body: dict[str, object] = {"query": inner}
    body.update({k: v for k, v in extra.items() if k == "refresh"})
    return body


@pytest.fixture
def berlin() -> Iterator[LocalPostHog]:
    with LocalPostHog(project_id=5, api_key="phx_tz", timezone="Europe/Berlin") as server:
        yield server


# -- PostHog's grammar and function registry ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("SELECT FROM WHERE", "no viable alternative"),
        ("SELECT toFloat64OrNull('1') LIMIT 1", "Unsupported function call 'toFloat64OrNull(...)'"),
        ("SELECT accurateCastOrNull(1, 'Int64') LIMIT 1", "Unsupported function call"),
        ("SELECT nope_function(1) FROM events LIMIT 1", "Unsupported function call 'nope_"),
    ],
)
def test_queries_postHog_refuses_are_refused(
    posthog: LocalPostHog, client: httpx.Client, query: str, detail: str
) -> None:
    response = hogql(client, query)
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert detail in response.json()["detail"]


def test_a_close_name_is_suggested_as_posthog_does(client: httpx.Client) -> None:
    response = hogql(client, "SELECT JSONExtractStrin(properties, 'x') FROM events LIMIT 1")
    assert "Perhaps you meant 'JSONExtractString(...)'?" in response.json()["detail"]


def test_list_placeholders_print_as_arrays(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events([gen_event(1), gen_event(2)])
    body = hogql(
        client, "SELECT {ids} AS ids, toTypeName({ids}) AS type LIMIT 1", {"ids": ["a", "b"]}
    ).json()
    assert body["results"] == [[["a", "b"], "Array(String)"]]
    # Arrays are typed: a list mixing strings and numbers fails, as it does on PostHog.
    assert hogql(client, "SELECT {ids} LIMIT 1", {"ids": ["a", 1]}).status_code == 400


# -- the project's timezone ----------------------------------------------------------------


def test_datetimes_are_shown_and_read_in_the_project_timezone(berlin: LocalPostHog) -> None:
    berlin.insert_events([gen_event(1) | {"timestamp": T0}])
    query = (
        "SELECT timestamp, timestamp >= toDateTime('2026-11-20 12:30:00') AS after "
        "FROM events LIMIT 1"
    )
    local = post(berlin, query_body(query)).json()
    assert local["results"] == [["2026-11-20T13:00:00+01:00", 1]]  # 12:30 Berlin is 11:30 UTC
    assert local["timezone"] == "Europe/Berlin"
    utc = post(berlin, query_body(query, modifiers={"convertToProjectTimezone": False})).json()
    assert utc["results"] == [["2026-11-20T12:00:00.000000Z", 0]]
    assert utc["timezone"] == "UTC"


def test_the_bot_reads_the_same_runs_whatever_the_project_timezone(berlin: LocalPostHog) -> None:
    from standins.traffic.generator import SeriesSpec, generate

    world = generate(seed=3, series=[SeriesSpec()], runs=2, items_per_run=60, now=T0)
    berlin.insert_events(world.events)
    with httpx.Client(
        base_url=berlin.url, headers={"Authorization": "Bearer phx_tz"}, timeout=30
    ) as http:
        client = PostHogClient(http, 5, budget=QueryBudget(100))
        runs = client.list_runs(T0 - timedelta(days=30))
        assert [r.run_id for r in runs] == [
            r.run_id for r in sorted(world.runs, key=lambda r: r.timestamp, reverse=True)
        ]
        assert [r.timestamp for r in runs] == sorted(
            (r.timestamp for r in world.runs), reverse=True
        )


# -- the result cache --------------------------------------------------------------------------


def test_blocking_answers_from_cache_and_force_blocking_is_fresh(
    posthog: LocalPostHog, client: httpx.Client
) -> None:
    count = "SELECT count() AS n FROM events LIMIT 1"
    posthog.insert_events([gen_event(1)])
    first = post(posthog, query_body(count)).json()
    assert (first["results"], first["is_cached"]) == ([[1]], False)
    posthog.insert_events([gen_event(2)])
    cached = post(posthog, query_body(count, refresh="blocking")).json()
    assert (cached["results"], cached["is_cached"]) == ([[1]], True)  # the new event is hidden
    fresh = post(posthog, query_body(count, refresh="force_blocking")).json()
    assert (fresh["results"], fresh["is_cached"]) == ([[2]], False)
    assert post(posthog, query_body(count, refresh="sometimes")).status_code == 400


def test_the_bot_sees_a_new_run_the_cache_would_hide(posthog: LocalPostHog) -> None:
    from standins.traffic.generator import SeriesSpec, generate

    world = generate(seed=4, series=[SeriesSpec()], runs=3, items_per_run=60, now=T0)
    runs = sorted(world.runs, key=lambda r: r.timestamp)
    newest = runs[-1].run_id
    newest_events = [
        e for e in world.events if e["properties"].get("$ai_clustering_run_id") == newest
    ]
    posthog.insert_events([e for e in world.events if e not in newest_events])
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": f"Bearer {posthog.api_key}"}, timeout=30
    ) as http:
        client = PostHogClient(http, PROJECT_ID, budget=QueryBudget(100))
        before = client.list_runs(T0 - timedelta(days=30))
        posthog.insert_events(newest_events)
        after = client.list_runs(T0 - timedelta(days=30))
    assert newest not in [r.run_id for r in before]
    assert after[0].run_id == newest


# -- throttles, concurrency and the time limit ----------------------------------------------


def test_the_concurrency_429_carries_no_wait() -> None:
    with LocalPostHog(project_id=6, api_key="phx_c", queue_timeout=0.05) as server:
        with server.concurrency.held():
            response = post(server, query_body("SELECT 1 LIMIT 1"))
        assert response.status_code == 429
        assert "Retry-After" not in response.headers
        assert "Exceeded maximum concurrency limit: 3" in response.json()["detail"]
        assert "Expected available" not in response.json()["detail"]
        assert post(server, query_body("SELECT 1 LIMIT 1")).status_code == 200


def test_the_bot_retries_a_concurrency_429_without_a_wait() -> None:
    with LocalPostHog(project_id=6, api_key="phx_c", queue_timeout=0.01) as server:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": "Bearer phx_c"}, timeout=30
        ) as http:
            client = PostHogClient(http, 6, budget=QueryBudget(100))
            with server.concurrency.held(), pytest.raises(PostHogRateLimited) as error:
                client.query("SELECT 1 AS one LIMIT 1", {}, name="probe")
            assert error.value.retry_after is None
            assert [r.status for r in server.requests] == [429, 429, 429, 429]


def test_a_query_past_the_time_limit_is_a_timeout_the_bot_names() -> None:
    slow = "SELECT count() FROM numbers(300000000) WHERE cityHash64(number) % 7 = 3 LIMIT 1"
    with LocalPostHog(project_id=6, api_key="phx_c", query_time_limit=0.05) as server:
        response = post(server, query_body(slow))
        assert response.status_code == 400
        assert "Timeout exceeded" in response.json()["detail"]
        with httpx.Client(
            base_url=server.url, headers={"Authorization": "Bearer phx_c"}, timeout=30
        ) as http:
            client = PostHogClient(http, 6, budget=QueryBudget(100))
            with pytest.raises(PostHogQueryTimeout, match="time limit"):
                client.query(slow, {}, name="slow")
