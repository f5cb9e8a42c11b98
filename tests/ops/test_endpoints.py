"""The HTTP surface of `clusters-bot web` beyond Slack's requests: request size limits, where
/metrics is served, and a /healthz that does not query the database on every hit."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from bot.web import MAX_REQUEST_BODY_BYTES, CachedHealth, health, make_wsgi_app
from standins.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("endpoints") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        yield running


def base_url(stack: Stack) -> str:
    return stack.events_url.removesuffix("/slack/events")


def call_wsgi(app: Any, path: str, headers: dict[str, str] | None = None) -> tuple[str, bytes]:
    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": "GET",
        "wsgi.input": io.BytesIO(b""),
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
    }
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h: status.append(s)))
    return status[0], body


def test_a_body_over_one_mebibyte_is_refused_before_bolt_reads_it(stack: Stack) -> None:
    big = b"payload=" + b"x" * (MAX_REQUEST_BODY_BYTES + 1)
    response = httpx.post(
        stack.events_url,
        content=big,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 413


def test_oversized_headers_are_refused(stack: Stack) -> None:
    response = httpx.get(f"{base_url(stack)}/healthz", headers={"X-Padding": "x" * 40_000})
    assert response.status_code == 431


def test_metrics_are_not_on_the_slack_port(stack: Stack) -> None:
    assert httpx.get(f"{base_url(stack)}/metrics").status_code == 404
    response = httpx.get(stack.metrics_url)
    assert response.status_code == 200 and "clusters_bot_posthog_requests" in response.text


def test_metrics_on_the_slack_port_need_the_bearer_token(stack: Stack) -> None:
    settings = stack.settings(metrics_token="scrape-me")
    app = make_wsgi_app(stack.app, dataclasses.replace(stack.services, settings=settings))
    assert call_wsgi(app, "/metrics")[0].startswith("401")
    assert call_wsgi(app, "/metrics", {"Authorization": "Bearer wrong"})[0].startswith("401")
    status, body = call_wsgi(app, "/metrics", {"Authorization": "Bearer scrape-me"})
    assert status.startswith("200") and b"clusters_bot_posthog_requests" in body


def test_healthz_queries_the_database_once_per_cache_period(stack: Stack, tmp_path: Path) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    now = [1000.0]
    cached = CachedHealth(stack.services, ttl=5, clock=lambda: now[0])
    engine = stack.services.store.engine
    health(stack.services)  # the query budgets' rows exist from here on
    event.listen(engine, "before_cursor_execute", count)
    try:
        health(stack.services)
        per_report = len(statements)  # a ping, the heartbeat, the two query budgets left
        statements.clear()
        reports = [cached() for _ in range(10)]
        first_period = len(statements)
        now[0] += 5
        cached()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(status == 200 for status, _ in reports)
    assert 1 <= per_report <= 4
    assert first_period == per_report  # one refresh for ten hits
    assert len(statements) == 2 * per_report  # refreshed once the period is over


def test_healthz_over_http_still_reports(stack: Stack) -> None:
    body = httpx.get(f"{base_url(stack)}/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok"
