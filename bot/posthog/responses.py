"""PostHog's answers mapped onto the error tree (errors.py), worded for what PostHog said.

PostHog's REST exception handler (drf-exceptions-hog) builds its response without the headers
DRF would add, so a throttled answer may carry no `Retry-After`; the wait is always in the
`detail` text, as DRF's `Throttled` words it: "Expected available in N seconds."
(reference/posthog.md 3.6). A ClickHouse concurrency limit is a 429 without any wait.
"""

from __future__ import annotations

import re

import httpx

from bot.posthog.errors import (
    PostHogAuthError,
    PostHogBadQuery,
    PostHogDatabaseError,
    PostHogEndpointInternal,
    PostHogNotFound,
    PostHogQueryDenied,
    PostHogQueryTimeout,
    PostHogRateLimited,
    PostHogUnavailable,
)

_EXPECTED_AVAILABLE = re.compile(r"expected available in (\d+(?:\.\d+)?) seconds?", re.I)
_TIMEOUT = re.compile(
    r"timeout exceeded|timeout_exceeded|time limit|execution time|timed out|took too long", re.I
)
_DENIED = re.compile(r"access|permission|not allowed|forbidden|not authorized", re.I)
_CLICKHOUSE = re.compile(r"DB::Exception|\bCode: \d+|clickhouse|memory limit|too many", re.I)
_INTERNAL = re.compile(r"personal api key", re.I)


def detail(response: httpx.Response) -> str:
    """PostHog's `detail` text (or the start of whatever else it sent)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body)[:500]
    return str(body)[:300]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds PostHog asked us to wait: the `Retry-After` header, else the detail text."""
    header = response.headers.get("Retry-After")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    found = _EXPECTED_AVAILABLE.search(detail(response))
    return float(found.group(1)) if found else None


def raise_for_response(response: httpx.Response, name: str) -> None:
    """Map PostHog's status codes onto the error tree."""
    status = response.status_code
    if status < 400:
        return
    text = detail(response)
    if status == 403 and name == "clustering_jobs" and _INTERNAL.search(text):
        raise PostHogEndpointInternal(
            "This PostHog version keeps the clustering-jobs endpoint internal (no personal API "
            f"key may read it: {text}). Jobs are taken from the runs instead."
        )
    if status in (401, 403):
        raise PostHogAuthError(
            f"PostHog refused the API key ({status}): {text}. Check POSTHOG_API_KEY and its "
            "scopes (query:read, llm_analytics:read)."
        )
    if status == 404:
        raise PostHogNotFound(f"PostHog has no such resource ({name}): check POSTHOG_PROJECT_ID")
    if status == 429:
        raise PostHogRateLimited(f"PostHog is rate limiting us: {text}", retry_after(response))
    if status >= 500:
        raise PostHogUnavailable(f"PostHog answered {status} to {name}")
    raise bad_query(name, status, text)


def bad_query(name: str, status: int, text: str) -> PostHogBadQuery:
    """A 400 worded for what PostHog said: a timeout, missing access, a database error, or a
    query this PostHog does not accept. Other 4xx (405, 413, 422, ...) are the last: their
    detail ("Method not allowed") says nothing about access or time limits."""
    worded = status == 400
    if worded and _TIMEOUT.search(text):
        return PostHogQueryTimeout(
            f"PostHog stopped the query {name} at its time limit ({text}). It usually passes "
            "when PostHog is less busy; try again in a few minutes."
        )
    if worded and _DENIED.search(text):
        return PostHogQueryDenied(
            f"PostHog would not let the bot's API key read what {name} needs ({text}). Give "
            "the key access to the project's events (query:read)."
        )
    if worded and _CLICKHOUSE.search(text):
        return PostHogDatabaseError(
            f"PostHog's database could not run the query {name} ({text}). Try again later."
        )
    return PostHogBadQuery(
        f"PostHog did not accept the query {name} ({status}): {text}. This PostHog version "
        "may not support it."
    )
