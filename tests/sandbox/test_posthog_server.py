"""LocalPostHog over real HTTP: auth, routes, HogQL responses, errors, faults, TraceQuery, jobs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standins.posthog.server import LocalPostHog
from tests.support.local_posthog import API_KEY, PROJECT_ID, T0, gen_event, hogql

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
QUERY_PATH = f"/api/projects/{PROJECT_ID}/query/"
JOBS_PATH = f"/api/projects/{PROJECT_ID}/llm_analytics/clustering_jobs/"


def trace_events(trace_id: str = "trace-1") -> list[dict[str, object]]:
    base = {"$ai_trace_id": trace_id, "$ai_session_id": "sess-1"}
    return [
        {
            "uuid": "10000000-0000-4000-8000-000000000001",
            "event": "$ai_trace",
            "timestamp": T0 + timedelta(seconds=9),
            "distinct_id": "alice",
            "properties": {
                **base,
                "$ai_trace_name": "rag_answer",
                "$ai_latency": 8.5,
                "$ai_input_state": {"q": "hi"},
                "$ai_output_state": '{"a": 1}',
            },
        },
        {
            "uuid": "10000000-0000-4000-8000-000000000003",
            "event": "$ai_generation",
            "timestamp": T0 + timedelta(seconds=4),
            "distinct_id": "alice",
            "properties": {
                **base,
                "$ai_parent_id": trace_id,
                "$ai_latency": 4.004,
                "$ai_input_tokens": 100,
                "$ai_output_tokens": 20,
                "$ai_input_cost_usd": 0.00011,
                "$ai_output_cost_usd": 0.00002,
                "$ai_total_cost_usd": "0.00013",
                "$ai_is_error": True,
                "$ai_error": "timeout",
            },
        },
        {
            "uuid": "10000000-0000-4000-8000-000000000002",
            "event": "$ai_generation",
            "timestamp": T0,
            "distinct_id": "alice",
            "properties": {
                **base,
                "$ai_parent_id": trace_id,
                "$ai_latency": 3.5,
                "$ai_input_tokens": 50,
                "$ai_output_tokens": 10,
                "$ai_input_cost_usd": 0.000055,
                "$ai_output_cost_usd": 0.00001,
                "$ai_total_cost_usd": 0.000065,
                "$ai_is_error": False,
            },
        },
        {
            "uuid": "10000000-0000-4000-8000-000000000009",
            "event": "$ai_generation",
            "timestamp": T0,
            "distinct_id": "bob",
            "properties": {"$ai_trace_id": "other-trace", "$ai_total_cost_usd": 5.0},
        },
    ]


# -- auth and routing -------------------------------------------------------------------------


def test_missing_and_wrong_key_are_401(posthog: LocalPostHog) -> None:
    with httpx.Client(base_url=posthog.url) as anonymous:
        response = anonymous.post(QUERY_PATH, json={})
        assert response.status_code == 401
        assert response.json()["type"] == "authentication_error"
        response = anonymous.get(JOBS_PATH, headers={"Authorization": "Bearer phx_wrong"})
        assert response.status_code == 401
        assert response.json() == {
            "type": "authentication_error",
            "code": "authentication_failed",
            "detail": "Invalid personal API key.",
            "attr": None,
        }


def test_unknown_project_and_path_are_404(posthog: LocalPostHog, client: httpx.Client) -> None:
    response = client.post("/api/projects/999/query/", json={})
    assert response.status_code == 404
    assert response.json()["type"] == "invalid_request"
    assert response.json()["code"] == "not_found"
    assert client.get(f"/api/projects/{PROJECT_ID}/nope/").status_code == 404
    assert client.get("/elsewhere").status_code == 404
    assert client.post(f"/api/projects/{PROJECT_ID}/query", json={}).status_code == 404


def test_wrong_method_is_405(posthog: LocalPostHog, client: httpx.Client) -> None:
    assert client.get(QUERY_PATH).status_code == 405


def test_environments_alias(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events([gen_event(1)])
    response = hogql(client, "SELECT count() FROM events", prefix="environments")
    assert response.status_code == 200 and response.json()["results"] == [[1]]
    posthog.set_jobs([{"id": "j1", "name": "Default - traces"}])
    jobs = client.get(f"/api/environments/{PROJECT_ID}/llm_analytics/clustering_jobs/")
    assert jobs.status_code == 200 and jobs.json()["count"] == 1


# -- HogQL ------------------------------------------------------------------------------------


def test_hogql_success_shape(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events([gen_event(n, **{"$ai_is_error": n == 2}) for n in (1, 2, 3)])
    query = (
        "SELECT event, timestamp, properties.$ai_model, toFloat(properties.$ai_total_cost_usd) "
        "AS cost, properties.$ai_is_error AS err FROM events WHERE distinct_id = {who} "
        "ORDER BY timestamp"
    )
    response = hogql(client, query, {"who": "user_1"})
    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["event", "timestamp", "properties.$ai_model", "cost", "err"]
    assert body["types"] == [
        ["event", "String"],
        ["timestamp", "DateTime64(6, 'UTC')"],
        ["properties.$ai_model", "Nullable(String)"],
        ["cost", "Nullable(Float64)"],
        ["err", "Nullable(String)"],
    ]
    assert body["results"] == [
        ["$ai_generation", "2026-06-12T15:30:12.120000Z", "gpt-4.1-mini", 0.001, "false"],
        ["$ai_generation", "2026-06-12T15:30:14.120000Z", "gpt-4.1-mini", 0.003, "false"],
    ]
    assert body["hasMore"] is False and body["limit"] == 100 and body["offset"] == 0
    assert body["hogql"] == query and body["is_cached"] is False
    assert posthog.hogql_log == [query]


def test_datetime_cells_are_iso(posthog: LocalPostHog, client: httpx.Client) -> None:
    response = hogql(
        client,
        "SELECT toDateTime('2026-11-20 13:20:09'), now(), [toDateTime('2026-01-02')], "
        "toDate('2026-01-02'), toDateTime('garbage')",
    )
    row = response.json()["results"][0]
    assert row[0] == "2026-11-20T13:20:09.000000Z"
    assert ISO_Z.match(row[1])
    assert row[2] == ["2026-01-02T00:00:00.000000Z"]
    assert row[3] == "2026-01-02" and row[4] is None


def test_has_more_and_limits(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events(gen_event(n) for n in range(5))
    # hasMore and limit come only from PostHog's paginator, for queries without a LIMIT.
    body = hogql(client, "SELECT uuid FROM events ORDER BY timestamp LIMIT 3").json()
    assert (len(body["results"]), body["hasMore"], body["limit"]) == (3, None, None)
    body = hogql(client, "SELECT uuid FROM events").json()
    assert (len(body["results"]), body["hasMore"], body["limit"]) == (5, False, 100)
    body = hogql(client, "SELECT number FROM numbers(150)").json()
    assert (len(body["results"]), body["hasMore"], body["limit"]) == (100, True, 100)
    body = hogql(client, "SELECT number FROM numbers(50005) LIMIT 60000").json()
    assert (len(body["results"]), body["hasMore"]) == (50000, None)


def test_clickhouse_error_is_validation_error(posthog: LocalPostHog, client: httpx.Client) -> None:
    response = hogql(client, "SELECT no_such_column FROM events")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error" and body["code"] == "invalid_input"
    assert body["attr"] is None
    assert "no_such_column" in body["detail"] and "UNKNOWN_IDENTIFIER" in body["detail"]
    assert not body["detail"].startswith("Code:") and posthog.database not in body["detail"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (
            {"query": {"kind": "HogQLQuery", "query": "SELECT {x}"}},
            "Placeholder {x} is not defined",
        ),
        ({"query": {"kind": "FunnelsQuery"}}, "Unsupported query kind"),
        ({"query": {"kind": "HogQLQuery", "query": 3}}, "must be a string"),
        ({"nothing": 1}, "'query' object"),
    ],
)
def test_bad_requests_are_400(
    posthog: LocalPostHog, client: httpx.Client, payload: dict[str, object], fragment: str
) -> None:
    response = client.post(QUERY_PATH, json=payload)
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert fragment in response.json()["detail"]


def test_malformed_json_body_is_400(posthog: LocalPostHog, client: httpx.Client) -> None:
    response = client.post(
        QUERY_PATH, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_string_placeholder_round_trips(posthog_server: LocalPostHog, text: str) -> None:
    with httpx.Client(
        base_url=posthog_server.url, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as c:
        body = hogql(c, "SELECT {s} AS s, length({s}) AS n", {"s": text}).json()
    assert body["results"] == [[text, len(text.encode())]]


def test_concurrent_queries(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events(gen_event(n) for n in range(20))
    statuses: list[int] = []

    def worker() -> None:
        for _ in range(5):
            statuses.append(hogql(client, "SELECT count() FROM events").status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 30


def test_servers_in_one_process_are_isolated(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events([gen_event(1)])
    with LocalPostHog(project_id=PROJECT_ID, api_key="other") as second:
        assert second.database != posthog.database
        with httpx.Client(base_url=second.url, headers={"Authorization": "Bearer other"}) as c:
            assert hogql(c, "SELECT count() FROM events").json()["results"] == [[0]]
    assert hogql(client, "SELECT count() FROM events").json()["results"] == [[1]]


def test_requests_are_recorded_and_reset(posthog: LocalPostHog, client: httpx.Client) -> None:
    hogql(client, "SELECT 1")
    client.get(JOBS_PATH + "?limit=5")
    assert [(r.method, r.path, r.status) for r in posthog.requests] == [
        ("POST", QUERY_PATH, 200),
        ("GET", JOBS_PATH + "?limit=5", 200),
    ]
    assert posthog.requests[0].json["query"]["query"] == "SELECT 1"
    posthog.reset()
    assert posthog.requests == [] and posthog.hogql_log == []


# -- faults -----------------------------------------------------------------------------------


def test_fault_429_says_its_wait_in_the_detail_only(
    posthog: LocalPostHog, client: httpx.Client
) -> None:
    posthog.faults.add(429, retry_after=3)
    response = hogql(client, "SELECT 1")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers  # PostHog's handler sends no headers
    assert response.json()["detail"] == "Request was throttled. Expected available in 3 seconds."
    assert hogql(client, "SELECT 1").status_code == 200


def test_fault_429_with_retry_after(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.faults.add(429, retry_after=3, retry_after_header=True)
    response = hogql(client, "SELECT 1")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json() == {
        "type": "throttled_error",
        "code": "throttled",
        "detail": "Request was throttled. Expected available in 3 seconds.",
        "attr": None,
    }
    assert hogql(client, "SELECT 1").status_code == 200


def test_faults_consumed_in_order_with_counts(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.faults.add(500, count=2)
    posthog.faults.add(503)
    posthog.faults.add(502, path_contains="/clustering_jobs/")
    statuses = [hogql(client, "SELECT 1").status_code for _ in range(4)]
    assert statuses == [500, 500, 503, 200]
    jobs = client.get(JOBS_PATH)
    assert jobs.status_code == 502 and jobs.headers["Content-Type"] == "text/html"
    assert client.get(JOBS_PATH).status_code == 200
    posthog.faults.add(500)
    posthog.faults.clear()
    assert hogql(client, "SELECT 1").status_code == 200


def test_delay_only_fault_serves_normally(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.faults.add(200, delay=0.3)
    started = time.monotonic()
    response = hogql(client, "SELECT 42")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.json()["results"] == [[42]]
    posthog.faults.add(200, delay=1.0)
    with httpx.Client(base_url=posthog.url, timeout=0.2, headers=client.headers) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            hogql(impatient, "SELECT 1")


def test_malformed_body_fault(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.faults.add(200, body=b'{"results": [[1, 2')
    response = hogql(client, "SELECT 1")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_dropped_connection_fault(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.faults.add(500, drop_connection=True)
    with pytest.raises(httpx.RemoteProtocolError):
        hogql(client, "SELECT 1")
    assert posthog.requests[-1].status == 0
    assert hogql(client, "SELECT 1").status_code == 200


# -- TraceQuery -------------------------------------------------------------------------------


def trace_query(
    client: httpx.Client, trace_id: str, date_from: datetime, date_to: datetime
) -> httpx.Response:
    body = {
        "query": {
            "kind": "TraceQuery",
            "traceId": trace_id,
            "dateRange": {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()},
        }
    }
    return client.post(QUERY_PATH, json=body)


def test_trace_query_found(posthog: LocalPostHog, client: httpx.Client) -> None:
    posthog.insert_events(trace_events())
    response = trace_query(client, "trace-1", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert response.status_code == 200
    [trace] = response.json()["results"]
    assert trace["id"] == "trace-1"
    assert trace["createdAt"] == "2026-06-12T15:30:11.120000+00:00"
    assert trace["traceName"] == "rag_answer" and trace["aiSessionId"] == "sess-1"
    assert trace["errorCount"] == 1
    assert trace["inputTokens"] == 150 and trace["outputTokens"] == 30
    assert trace["totalCost"] == round(0.00013 + 0.000065, 4)
    assert trace["inputState"] == {"q": "hi"} and trace["outputState"] == {"a": 1}
    # The trace event carries a latency, so the runner sums the root-level events.
    assert trace["totalLatency"] == round(8.5 + 4.004 + 3.5, 2)
    assert [e["id"][-1] for e in trace["events"]] == ["2", "3"]
    assert all(e["event"] == "$ai_generation" for e in trace["events"])
    assert trace["person"]["distinct_id"] == "alice"
    assert "events" in response.json()["columns"]


def test_trace_query_not_found_and_out_of_range(
    posthog: LocalPostHog, client: httpx.Client
) -> None:
    posthog.insert_events(trace_events())
    day = timedelta(days=1)
    assert trace_query(client, "missing", T0 - day, T0 + day).json()["results"] == []
    assert trace_query(client, "trace-1", T0 + day, T0 + 2 * day).json()["results"] == []
    assert trace_query(client, "trace-1", T0 - 2 * day, T0 - day).json()["results"] == []
    # ±10 minutes of capture range, but the trace must overlap the requested range itself.
    ends_before = trace_query(client, "trace-1", T0 - timedelta(hours=1), T0 - timedelta(minutes=5))
    assert ends_before.json()["results"] == []
    just_inside = trace_query(client, "trace-1", T0 + timedelta(seconds=5), T0 + timedelta(hours=1))
    assert len(just_inside.json()["results"]) == 1


def test_trace_query_validation(posthog: LocalPostHog, client: httpx.Client) -> None:
    response = client.post(QUERY_PATH, json={"query": {"kind": "TraceQuery"}})
    assert response.status_code == 400 and "traceId" in response.json()["detail"]


# -- clustering jobs --------------------------------------------------------------------------


def test_jobs_pagination(posthog: LocalPostHog, client: httpx.Client) -> None:
    jobs = [
        {
            "id": f"job-{n}",
            "name": f"Job {n}",
            "analysis_level": "trace",
            "event_filters": [],
            "enabled": True,
            "created_at": "2026-06-01T00:00:00Z",
            "updated_at": "2026-06-01T00:00:00Z",
        }
        for n in range(5)
    ]
    posthog.set_jobs(jobs)
    first = client.get(JOBS_PATH, params={"limit": 2}).json()
    assert first["count"] == 5 and first["previous"] is None
    assert [j["id"] for j in first["results"]] == ["job-0", "job-1"]
    assert first["next"] == f"{posthog.url}{JOBS_PATH}?limit=2&offset=2"
    second = client.get(first["next"]).json()
    assert [j["id"] for j in second["results"]] == ["job-2", "job-3"]
    assert second["previous"] == f"{posthog.url}{JOBS_PATH}?limit=2"
    last = client.get(second["next"]).json()
    assert [j["id"] for j in last["results"]] == ["job-4"] and last["next"] is None
    everything = client.get(JOBS_PATH).json()
    assert len(everything["results"]) == 5 and everything["next"] is None
    assert client.get(JOBS_PATH + "job-3/").json()["name"] == "Job 3"
    assert client.get(JOBS_PATH + "nope/").status_code == 404


# -- persistence ------------------------------------------------------------------------------


def _start_main(db: Path, *extra: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "standins.posthog.main",
            "--db",
            str(db),
            "--port",
            "0",
            "--runs",
            "2",
            "--items",
            "40",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("URL: "):
            return process, line.split()[1], lines
    process.kill()
    raise AssertionError("posthog_main did not start:\n" + "\n".join(lines))


def _stop_main(process: subprocess.Popen[str]) -> str:
    process.send_signal(2)  # SIGINT, as Ctrl-C
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


@pytest.mark.slow
def test_posthog_main_persists_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "posthog"
    query = {"query": {"kind": "HogQLQuery", "query": "SELECT count() FROM events"}}
    headers = {"Authorization": "Bearer phx_sandbox"}
    process, url, lines = _start_main(db)
    try:
        assert any(line.startswith("Loaded ") for line in lines)
        count = httpx.post(f"{url}/api/projects/1/query/", json=query, headers=headers).json()
        jobs = httpx.get(f"{url}/api/projects/1/llm_analytics/clustering_jobs/", headers=headers)
    finally:
        assert "Stopped." in _stop_main(process)
    assert count["results"][0][0] > 0 and jobs.json()["count"] == 3

    process, url, lines = _start_main(db)
    try:
        assert any("not reloading" in line for line in lines)
        again = httpx.post(f"{url}/api/projects/1/query/", json=query, headers=headers).json()
        jobs_again = httpx.get(
            f"{url}/api/projects/1/llm_analytics/clustering_jobs/", headers=headers
        )
    finally:
        _stop_main(process)
    assert again["results"] == count["results"]
    assert jobs_again.json()["count"] == 3
