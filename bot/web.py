"""HTTP mode: Bolt at POST /slack/events, GET /healthz and GET /metrics, as a WSGI app served
by waitress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.services.alerts import HEARTBEAT
from bot.wiring import Services

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


def make_wsgi_app(app: App, services: Services) -> WsgiApp:
    bolt = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events" and method == "POST":
            return bolt(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body = health(services)
            return _json(start_response, status, body)
        if path == "/metrics" and method == "GET":
            payload = services.metrics.render()
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return _json(start_response, 404, {"error": "not found"})

    return wsgi


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def serve(app: App, services: Services, *, host: str = "0.0.0.0", port: int = 3000) -> None:
    from waitress import serve as waitress_serve

    waitress_serve(
        make_wsgi_app(app, services), host=host, port=port, threads=8, ident="clusters-bot"
    )
