"""HTTP mode: Bolt at POST /slack/events and GET /healthz, as a WSGI app served by waitress;
GET /metrics on its own listener (METRICS_PORT), or on the main one behind METRICS_TOKEN."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import LISTENER_THREADS
from bot.services.alerts import HEARTBEAT
from bot.wiring import Services

# Slack's payloads are a few kB (a block_actions payload carries the clicked message: at most
# 50 blocks). waitress would otherwise read up to 1 GiB of body and 256 kB of headers, and Bolt
# reads the whole body before it checks the signature.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
MAX_REQUEST_HEADER_BYTES = 16 * 1024
HEALTH_CACHE_SECONDS = 5.0

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def health(services: Services) -> tuple[int, dict[str, Any]]:
    """503 only when the database is unreachable (this process cannot work). A stale scheduler
    is reported, not failed: it runs in another process and must not take the web one down."""
    checks: dict[str, Any] = {}
    try:
        services.store.ping()
        checks["database"] = "ok"
        beat = services.store.heartbeat(HEARTBEAT)
    except Exception as error:  # health reports, never raises
        checks["database"] = f"error: {type(error).__name__}"
        beat = None
    stale_after = 3 * services.settings.poll_interval_seconds
    if beat is None:
        checks["scheduler"] = {"status": "unknown", "last_cycle": None}
    else:
        age = (datetime.now(UTC) - beat[0]).total_seconds()
        checks["scheduler"] = {
            "status": "ok" if age <= stale_after else "stale",
            "last_cycle": beat[0].isoformat(),
            "age_seconds": round(age, 1),
        }
    try:
        checks["posthog_queries_left"] = int(services.posthog.budget.remaining)
        checks["posthog_command_queries_left"] = int(services.command_posthog.budget.remaining)
    except Exception as error:  # the budgets live in the database
        checks["posthog_queries_left"] = f"error: {type(error).__name__}"
    ok = checks["database"] == "ok"
    return (200 if ok else 503), {"status": "ok" if ok else "failing", **checks}


class CachedHealth:
    """The health report, computed at most once per `ttl` seconds: load balancers and uptime
    checks poll /healthz often, and each report costs two database queries."""

    def __init__(
        self,
        services: Services,
        *,
        ttl: float = HEALTH_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services, self.ttl, self.clock = services, ttl, clock
        self._lock = threading.Lock()
        self._report: tuple[float, tuple[int, dict[str, Any]]] | None = None

    def __call__(self) -> tuple[int, dict[str, Any]]:
        report = self._report
        if report is not None and self.clock() - report[0] < self.ttl:
            return report[1]
        # One refresh at a time. While it runs (a slow database), others get the last report
        # instead of holding HTTP threads that Slack's requests need.
        if report is not None and not self._lock.acquire(blocking=False):
            return report[1]
        if report is None:
            self._lock.acquire()
        try:
            now = self.clock()
            if self._report is None or now - self._report[0] >= self.ttl:
                self._report = (now, health(self.services))
            return self._report[1]
        finally:
            self._lock.release()


def make_wsgi_app(
    app: App, services: Services, *, health_ttl: float = HEALTH_CACHE_SECONDS
) -> WsgiApp:
    """/slack/events and /healthz; /metrics too when METRICS_TOKEN is set (and then only with
    `Authorization: Bearer <token>`)."""
    bolt = SlackRequestHandler(app)
    cached_health = CachedHealth(services, ttl=health_ttl)
    token = services.settings.metrics_token
    metrics = make_metrics_app(services)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events" and method == "POST":
            return bolt(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body = cached_health()
            return _json(start_response, status, body)
        if path == "/metrics" and token is not None:
            expected = f"Bearer {token.get_secret_value()}".encode()
            given = str(environ.get("HTTP_AUTHORIZATION", "")).encode()
            if not hmac.compare_digest(given, expected):
                return _json(start_response, 401, {"error": "metrics need the bearer token"})
            return metrics(environ, start_response)
        return _json(start_response, 404, {"error": "not found"})

    return wsgi


def make_metrics_app(services: Services) -> WsgiApp:
    """GET /metrics alone, for the listener on METRICS_HOST:METRICS_PORT."""

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
            return _json(start_response, 404, {"error": "not found"})
        payload = services.metrics.render()
        start_response(
            "200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    return wsgi


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


# waitress watches its sockets with select() unless told to poll(), and select() cannot watch a
# file descriptor numbered 1024 or more: in a process that holds many files (a long-lived one,
# or one with embedded ClickHouse beside it) the server thread then dies on its next loop.
POLL = {"asyncore_use_poll": True}


def server_options() -> dict[str, Any]:
    """waitress settings: request limits, and the threads Slack's requests (and their listeners,
    up to the ack) run in."""
    return {
        "threads": LISTENER_THREADS,
        "max_request_body_size": MAX_REQUEST_BODY_BYTES,
        "max_request_header_size": MAX_REQUEST_HEADER_BYTES,
        "ident": "clusters-bot",
        **POLL,
    }


def create_servers(
    app: App, services: Services, *, host: str = "0.0.0.0", port: int = 3000
) -> list[Any]:
    """The main server and, with METRICS_PORT, the metrics one (not yet running)."""
    from waitress.server import create_server

    settings = services.settings
    servers = [
        create_server(make_wsgi_app(app, services), host=host, port=port, **server_options())
    ]
    if settings.metrics_port is not None:
        servers.append(
            create_server(
                make_metrics_app(services),
                host=settings.metrics_host,
                port=settings.metrics_port,
                threads=2,
                max_request_body_size=1024,
                ident="clusters-bot-metrics",
                **POLL,
            )
        )
    return servers
