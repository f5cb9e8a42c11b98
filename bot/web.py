"""HTTP mode: Bolt at POST /slack/events and GET /healthz, as a WSGI app served by waitress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.wiring import Services

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def health(services: Services) -> tuple[int, dict[str, Any]]:
    checks: dict[str, Any] = {}
    try:
        services.store.ping()
        checks["database"] = "ok"
    except Exception as error:  # health reports, never raises
        checks["database"] = f"error: {type(error).__name__}"
    checks["posthog_queries_left"] = int(services.posthog.budget.remaining)
    ok = checks["database"] == "ok"
    return (200 if ok else 503), {"status": "ok" if ok else "degraded", **checks}


def make_wsgi_app(app: App, services: Services) -> WsgiApp:
    bolt = SlackRequestHandler(app)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events" and method == "POST":
            return bolt(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body = health(services)
            return _json(start_response, status, body)
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
