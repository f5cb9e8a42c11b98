"""Every answer PostHog can give, mapped onto the error tree (bot/posthog/errors.py), with what
is retried and how often: in-process on `httpx.MockTransport`, without a server or sleeping
(stamina is in testing mode, see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.errors import (
    PostHogAuthError,
    PostHogBadQuery,
    PostHogError,
    PostHogNotFound,
    PostHogRateLimited,
    PostHogUnavailable,
)

ATTEMPTS = 4  # PostHogClient's default
OK = {"results": [[1]], "columns": ["one"], "types": [["one", "UInt8"]], "hasMore": False}
Answer = httpx.Response | Exception


class Replies:
    """Answers each request with the next of `answers` (the last one repeats); records them."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(replies: Callable[[httpx.Request], httpx.Response]) -> PostHogClient:
    http = httpx.Client(base_url="https://posthog.test", transport=httpx.MockTransport(replies))
    return PostHogClient(http, 2, budget=QueryBudget(1000))


def ask(client: PostHogClient) -> object:
    return client.query("SELECT 1 AS one LIMIT 1", {}, name="probe")


def detail(text: str, status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"type": "x", "code": "x", "detail": text}, headers=headers)


def failure(*answers: Answer) -> tuple[PostHogError, int]:
    """The error the client raises for these answers, and how many requests it sent."""
    replies = Replies(*answers)
    with pytest.raises(PostHogError) as raised:
        ask(client_for(replies))
    return raised.value, len(replies.requests)


# -- 4xx: not retried -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        detail("Unknown table `evnts`", 400),
        httpx.Response(400, text="<html>Bad Request</html>"),  # a proxy's page, not JSON
        httpx.Response(400, json=["a list, not an object"]),
        detail("Method not allowed", 405),
        detail("Payload too large", 413),
        detail("Unprocessable", 422),
    ],
    ids=["400-json", "400-html", "400-list", "405", "413", "422"],
)
def test_a_refused_request_is_a_bad_query_sent_once(answer: httpx.Response) -> None:
    error, sent = failure(answer)
    assert type(error) is PostHogBadQuery and sent == 1
    assert "did not accept" in str(error) and str(answer.status_code) in str(error)


def test_the_start_of_a_non_json_400_is_quoted() -> None:
    error, _ = failure(httpx.Response(400, text="upstream said: no"))
    assert "upstream said: no" in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_an_auth_error_naming_the_setting(status: int) -> None:
    error, sent = failure(detail("Invalid personal API key.", status))
    assert type(error) is PostHogAuthError and sent == 1
    assert f"({status})" in str(error) and "Invalid personal API key." in str(error)
    assert "POSTHOG_API_KEY" in str(error) and "query:read" in str(error)


def test_404_is_not_found_naming_the_project_setting() -> None:
    error, sent = failure(detail("Not found.", 404))
    assert type(error) is PostHogNotFound and sent == 1
    assert "POSTHOG_PROJECT_ID" in str(error)


# -- 429: retried while the wait is short ---------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        (detail("Slow down.", 429, **{"Retry-After": "2"}), 2.0),
        (detail("Slow down.", 429, **{"Retry-After": "0"}), 0.0),
        (detail("Request was throttled. Expected available in 5 seconds.", 429), 5.0),
        (detail("Request was throttled. Expected available in 1 second.", 429), 1.0),
        # An HTTP-date Retry-After is not a number: the detail text still says how long.
        (
            detail(
                "Expected available in 4 seconds.",
                429,
                **{"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
            ),
            4.0,
        ),
        (detail("Too many concurrent queries.", 429), None),
        (httpx.Response(429, text="rate limited"), None),
    ],
    ids=["header", "header-zero", "detail", "detail-one", "date-header", "no-wait", "text"],
)
def test_429_is_retried_then_names_the_wait(answer: httpx.Response, wait: float | None) -> None:
    error, sent = failure(answer)
    assert type(error) is PostHogRateLimited and sent == ATTEMPTS
    assert error.retry_after == wait
    assert "rate limiting" in str(error)


def test_429_then_an_answer_succeeds() -> None:
    replies = Replies(detail("Too many concurrent queries.", 429), httpx.Response(200, json=OK))
    assert ask(client_for(replies)).rows() == [{"one": 1}]  # type: ignore[attr-defined]
    assert len(replies.requests) == 2


# -- 5xx, timeouts and transport errors: retried, then unavailable ---------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_then_unavailable(status: int) -> None:
    error, sent = failure(detail("Server error", status))
    assert type(error) is PostHogUnavailable and sent == ATTEMPTS
    assert str(status) in str(error)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_an_answer_succeeds(status: int) -> None:
    replies = Replies(detail("x", status), detail("x", status), httpx.Response(200, json=OK))
    assert ask(client_for(replies)).rows() == [{"one": 1}]  # type: ignore[attr-defined]
    assert len(replies.requests) == 3


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.PoolTimeout("no connection free"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_timeouts_and_transport_errors_are_retried_then_unavailable(
    exception: Exception,
) -> None:
    error, sent = failure(exception)
    assert type(error) is PostHogUnavailable and sent == ATTEMPTS
    assert type(exception).__name__ in str(error) and "unreachable" in str(error)


def test_a_timeout_then_an_answer_succeeds() -> None:
    replies = Replies(httpx.ReadTimeout("slow"), httpx.Response(200, json=OK))
    assert ask(client_for(replies)).rows() == [{"one": 1}]  # type: ignore[attr-defined]
    assert len(replies.requests) == 2


def test_a_200_that_is_not_json_is_retried_then_unavailable() -> None:
    error, sent = failure(httpx.Response(200, text="<html>maintenance</html>"))
    assert type(error) is PostHogUnavailable and sent == ATTEMPTS
    assert "broken response" in str(error)


def test_retries_stop_at_the_first_answer_that_is_not_transient() -> None:
    error, sent = failure(detail("x", 503), detail("Invalid personal API key.", 401))
    assert type(error) is PostHogAuthError and sent == 2
