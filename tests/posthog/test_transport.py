"""The client's status-code mapping, retries, throttles and budget charging, in-process on
`httpx.MockTransport` (no server, no sleeping: stamina is in testing mode)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from bot.domain.models import Level, RunSummary
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient, ThrottleGate
from bot.posthog.errors import (
    PostHogAuthError,
    PostHogBadQuery,
    PostHogDatabaseError,
    PostHogEndpointInternal,
    PostHogQueryDenied,
    PostHogQueryTimeout,
    PostHogRateLimited,
    PostHogThrottled,
)
from bot.services.alerts import CycleReport
from bot.services.clusters import ClustersService
from jobs.compare_runs import check_runs_job

OK = {"results": [[1]], "columns": ["one"], "types": [["one", "UInt8"]], "hasMore": False}
THROTTLED = "Request was throttled. Expected available in {} seconds."


def body(detail: str, error_type: str = "validation_error", code: str = "invalid_input") -> dict:
    return {"type": error_type, "code": code, "detail": detail, "attr": None}


class Script:
    """Answers requests in order from a list of (status, json, headers); records them."""

    def __init__(self, *answers: tuple[int, object, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, payload, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(status, json=payload, headers=headers)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += timedelta(seconds=seconds)


def make_client(
    script: Callable[[httpx.Request], httpx.Response],
    *,
    budget: QueryBudget | None = None,
    clock: Clock | None = None,
) -> PostHogClient:
    clock = clock or Clock()
    http = httpx.Client(base_url="https://posthog.test", transport=httpx.MockTransport(script))
    gate = ThrottleGate(clock=clock.monotonic, wall=clock.utc)
    return PostHogClient(http, 2, budget=budget or QueryBudget(1000), gate=gate)


def ask(client: PostHogClient) -> object:
    return client.query("SELECT 1 AS one LIMIT 1", {}, name="probe")


# -- throttling (issue 13 item 4) --------------------------------------------------------------


def test_throttle_wait_is_read_from_the_detail_when_there_is_no_retry_after_header() -> None:
    script = Script((429, body(THROTTLED.format(7), "throttled_error", "throttled"), {}))
    with pytest.raises(PostHogRateLimited) as error:
        ask(make_client(script))
    assert error.value.retry_after == 7.0
    assert len(script.requests) == 4  # retried, as a short wait is


def test_throttle_header_wins_over_the_detail_text() -> None:
    script = Script((429, body(THROTTLED.format(7)), {"Retry-After": "3"}))
    with pytest.raises(PostHogRateLimited) as error:
        ask(make_client(script))
    assert error.value.retry_after == 3.0


def test_concurrency_429_without_any_wait_is_retried_then_succeeds() -> None:
    limit = body("Too many concurrent queries. Try again later.", "throttled_error", "throttled")
    script = Script((429, limit, {}), (429, limit, {}), (200, OK, {}))
    assert ask(make_client(script)).rows() == [{"one": 1}]  # type: ignore[attr-defined]
    assert len(script.requests) == 3


def test_a_retried_query_is_charged_to_the_budget_once() -> None:
    budget = QueryBudget(100)
    script = Script((429, body(THROTTLED.format(0)), {}), (503, {"detail": "x"}, {}), (200, OK, {}))
    ask(make_client(script, budget=budget))
    assert len(script.requests) == 3
    assert budget.spent == 1


def test_a_throttle_longer_than_the_retry_window_is_not_retried_and_names_the_resume_time() -> None:
    clock = Clock()
    script = Script((429, body(THROTTLED.format(3600), "throttled_error", "throttled"), {}))
    client = make_client(script, clock=clock)
    with pytest.raises(PostHogThrottled) as error:
        ask(client)
    assert len(script.requests) == 1
    assert error.value.resume_at == clock.wall + timedelta(seconds=3600)
    assert "22:00:00 UTC" in str(error.value)
    clock.advance(600)
    with pytest.raises(PostHogThrottled) as again:
        client.list_jobs()  # any request, not only HogQL: nothing is sent while PostHog waits
    assert len(script.requests) == 1
    assert again.value.retry_after == pytest.approx(3000)
    assert client.stopped_by is again.value


def test_after_the_throttle_the_client_sends_again() -> None:
    clock = Clock()
    script = Script((429, body(THROTTLED.format(120)), {}), (200, OK, {}))
    client = make_client(script, clock=clock)
    with pytest.raises(PostHogThrottled):
        ask(client)
    clock.advance(121)
    assert client.gate.resume_at is None
    ask(client)
    assert len(script.requests) == 2


def test_a_throttled_query_is_not_charged_while_the_gate_is_closed() -> None:
    budget = QueryBudget(100)
    clock = Clock()
    client = make_client(Script((429, body(THROTTLED.format(900)), {})), budget=budget, clock=clock)
    for _ in range(5):
        with pytest.raises(PostHogThrottled):
            ask(client)
    assert budget.spent == 1


def test_the_alert_job_skips_a_cycle_while_throttled_and_logs_when_it_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    client = make_client(Script((429, body(THROTTLED.format(1800)), {})), clock=clock)
    with pytest.raises(PostHogThrottled):
        ask(client)
    cycles: list[int] = []
    alerts = SimpleNamespace(run_cycle=lambda: cycles.append(1))
    with caplog.at_level(logging.WARNING):
        check_runs_job(alerts, client)  # type: ignore[arg-type]
    assert cycles == []
    (record,) = [r for r in caplog.records if r.message == "alerts.cycle.postponed"]
    assert record.resume_at == (clock.wall + timedelta(seconds=1800)).isoformat()  # type: ignore[attr-defined]


def test_the_alert_job_reports_a_cycle_cut_short_by_a_throttle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(Script((429, body(THROTTLED.format(1800)), {})))

    def cycle() -> None:
        try:
            ask(client)  # what a series does; the cycle itself carries on
        except PostHogThrottled:
            pass

    alerts = SimpleNamespace(run_cycle=cycle)
    with caplog.at_level(logging.WARNING):
        check_runs_job(alerts, client)  # type: ignore[arg-type]
    (record,) = [r for r in caplog.records if r.message == "alerts.cycle.cut_short"]
    assert "resumes its queries at" in record.reason  # type: ignore[attr-defined]


def test_a_cycle_that_said_it_ended_early_is_not_reported_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(Script((429, body(THROTTLED.format(1800)), {})))

    def cycle() -> CycleReport:
        with pytest.raises(PostHogThrottled) as error:
            ask(client)  # what a series does; the cycle stops and says why
        return CycleReport(ended_early=str(error.value))

    alerts = SimpleNamespace(run_cycle=cycle)
    with caplog.at_level(logging.WARNING):
        check_runs_job(alerts, client)  # type: ignore[arg-type]
    assert client.stopped_by is not None
    assert [r for r in caplog.records if r.message == "alerts.cycle.cut_short"] == []


# -- HTTP 400 is not always a bug (issue 13 item 7) ------------------------------------------


@pytest.mark.parametrize(
    ("detail", "kind", "words"),
    [
        (
            "Code: 159. DB::Exception: Timeout exceeded: elapsed 10.2 seconds, maximum: 10. "
            "(TIMEOUT_EXCEEDED)",
            PostHogQueryTimeout,
            "time limit",
        ),
        (
            "You don't have access to the table events.",
            PostHogQueryDenied,
            "would not let",
        ),
        (
            "Code: 241. DB::Exception: Memory limit (for query) exceeded. (MEMORY_LIMIT_EXCEEDED)",
            PostHogDatabaseError,
            "database could not run",
        ),
        ("Unknown function: 'nope'", PostHogBadQuery, "did not accept"),
    ],
)
def test_400_is_worded_for_what_posthog_said(
    detail: str, kind: type[PostHogBadQuery], words: str
) -> None:
    script = Script((400, body(detail), {}))
    with pytest.raises(PostHogBadQuery) as error:
        ask(make_client(script))
    assert type(error.value) is kind
    assert words in str(error.value)
    assert detail[:40] in str(error.value)
    assert "bug" not in str(error.value)
    assert len(script.requests) == 1


def test_400_errors_reach_the_user_as_posthog_worded_them() -> None:
    from bot.listeners.errors import user_message

    error = PostHogQueryTimeout("PostHog stopped the query list_runs at its time limit (x).")
    assert user_message(error) == str(error)


# -- clustering jobs on older PostHog (issue 13 item 7) --------------------------------------

INTERNAL_403 = body(
    "This action does not support Personal API Key access", "authentication_error", "permission"
)


def test_403_from_the_internal_jobs_endpoint_says_so() -> None:
    with pytest.raises(PostHogEndpointInternal, match="internal"):
        make_client(Script((403, INTERNAL_403, {}))).list_jobs()


def test_other_403_stays_an_auth_error() -> None:
    denied = body("You do not have permission to perform this action.", "authentication_error")
    with pytest.raises(PostHogAuthError) as error:
        make_client(Script((403, denied, {}))).list_jobs()
    assert not isinstance(error.value, PostHogEndpointInternal)


def test_jobs_fall_back_to_the_jobs_seen_in_runs_when_the_endpoint_is_internal() -> None:
    client = make_client(Script((403, INTERNAL_403, {})))
    at = datetime(2026, 11, 30, 0, 15, tzinfo=UTC)

    def summary(level: Level, job_id: str, name: str, hours: int) -> RunSummary:
        return RunSummary(
            run_id=f"2_{level.value}_20261130_001500_{job_id}_{hours}",
            level=level,
            job_id=job_id,
            job_name=name,
            total_items=100,
            timestamp=at - timedelta(hours=hours),
        )

    runs = SimpleNamespace(
        recent=lambda: [
            summary(Level.TRACE, "job-t", "Default - traces", 0),
            summary(Level.GENERATION, "job-g", "Default - generations", 1),
            summary(Level.TRACE, "job-t", "Default - traces", 24),
        ],
    )
    view = ClustersService(runs, client).jobs()  # type: ignore[arg-type]
    assert view.from_runs is True
    assert [(j.id, j.name, j.analysis_level) for j in view.jobs] == [
        ("job-t", "Default - traces", Level.TRACE),
        ("job-g", "Default - generations", Level.GENERATION),
    ]


def test_request_bodies_are_json_with_placeholders() -> None:
    script = Script((200, OK, {}))
    make_client(script).query("SELECT {x} LIMIT 1", {"x": "a'b"}, name="probe")
    sent = json.loads(script.requests[0].content)
    assert sent["query"]["values"] == {"x": "a'b"}


def test_the_scheduler_gives_the_alert_job_its_posthog_client() -> None:
    from jobs.schedule import CHECK_RUNS_JOB_ID, build_scheduler

    client = make_client(Script((200, OK, {})))
    services = SimpleNamespace(
        settings=SimpleNamespace(
            poll_interval_seconds=600, early_warning_interval=None, outbox_retry_seconds=30
        ),
        alerts=SimpleNamespace(run_cycle=lambda: None),
        posthog=client,
        notifier=SimpleNamespace(deliver=lambda: None),
    )
    job = build_scheduler(services, background=True).get_job(CHECK_RUNS_JOB_ID)  # type: ignore[arg-type]
    assert job.kwargs == {"posthog": client}
