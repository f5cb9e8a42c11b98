"""The HTTP side of the local PostHog: routing, auth, faults, PostHog's error shapes.

It serves any `Backend` (what `server.LocalPostHog` is): it does not know that class, so the
server imports this module and never the other way round."""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from standins.posthog.faults import (
    HANG_MAX,
    ApiError,
    Fault,
    FaultInjector,
    RecordedRequest,
    default_fault_response,
    error_body,
    not_found,
)

_ROUTE = re.compile(r"^/api/(?:projects|environments)/(?P<project>[^/]+)/(?P<rest>.*)$")
_JOB_ROUTE = re.compile(r"^llm_analytics/clustering_jobs/(?P<job>[^/]+)/$")


class Backend(Protocol):
    """What the HTTP side asks of the PostHog behind it."""

    project_id: int
    api_key: str
    faults: FaultInjector

    def log_hogql(self, text: str) -> None: ...

    def run_query(self, body: object) -> dict[str, Any]: ...

    def job(self, job_id: str) -> dict[str, Any]: ...

    def jobs_page(self, params: dict[str, list[str]], path: str) -> dict[str, Any]: ...

    def record(self, request: RecordedRequest) -> None: ...


class QuietServer(ThreadingHTTPServer):
    """The HTTP server of one `Backend` (``posthog``): handlers find it through the server."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], posthog: Backend) -> None:
        self.posthog = posthog
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts in tests) are normal; other errors are printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalPostHog/1.0"
    timeout = 60

    @property
    def posthog(self) -> Backend:
        server: QuietServer = self.server  # type: ignore[assignment]
        return server.posthog

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
            body_ok = True
        except ValueError:
            body, body_ok = None, False
        if (
            isinstance(body, dict)
            and isinstance(body.get("query"), dict)
            and body["query"].get("kind") == "HogQLQuery"
            and isinstance(body["query"].get("query"), str)
        ):
            self.posthog.log_hogql(body["query"]["query"])

        fault = self.posthog.faults.take(self.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if not fault.serves_normally:
                self._serve_fault(method, body, fault)
                return
        try:
            status, payload = self._route(method, body, body_ok)
        except ApiError as error:
            status, payload = error.status, error.payload
        except Exception as error:  # a sandbox bug: answer like PostHog would, a 500
            status = 500
            payload = error_body("server_error", "error", f"A server error occurred: {error}")
        # Recorded before answering, so a test that got the answer also sees the record.
        self._record(method, body, status)
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _route(self, method: str, body: Any, body_ok: bool) -> tuple[int, dict[str, Any]]:
        url = urlsplit(self.path)
        match = _ROUTE.match(url.path)
        if match is None:
            raise not_found()
        rest = match.group("rest")
        job_match = _JOB_ROUTE.match(rest)
        if rest not in ("query/", "llm_analytics/clustering_jobs/") and job_match is None:
            raise not_found()
        self._authenticate()
        if match.group("project") != str(self.posthog.project_id):
            raise not_found("Project not found.")
        allowed = "POST" if rest == "query/" else "GET"
        if method != allowed:
            raise ApiError(
                405,
                error_body(
                    "invalid_request", "method_not_allowed", f'Method "{method}" not allowed.'
                ),
            )
        if rest == "query/":
            if not body_ok:
                raise ApiError(400, error_body("parse_error", "parse_error", "JSON parse error."))
            return 200, self.posthog.run_query(body)
        if job_match is not None:
            return 200, self.posthog.job(job_match.group("job"))
        return 200, self.posthog.jobs_page(parse_qs(url.query), url.path)

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization", "")
        if not header:
            raise ApiError(
                401,
                error_body(
                    "authentication_error",
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                ),
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.posthog.api_key:
            raise ApiError(
                401,
                error_body(
                    "authentication_error", "authentication_failed", "Invalid personal API key."
                ),
            )

    def _serve_fault(self, method: str, body: Any, fault: Fault) -> None:
        if fault.hang:
            if self._client_hangs_up(HANG_MAX):
                self.posthog.faults.given_up(fault)
            self._record(method, body, 0)
            self.close_connection = True
            return
        if fault.drop_connection:
            self._record(method, body, 0)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault.body is not None:
            payload, content_type = fault.body, "application/json"
        else:
            payload, content_type = default_fault_response(fault)
        headers = {}
        if fault.retry_after is not None and fault.retry_after_header:
            # Integral seconds as HTTP says; a fraction is passed through so tests stay fast.
            wait = max(0.0, fault.retry_after)
            headers["Retry-After"] = str(int(wait)) if wait == int(wait) else str(wait)
        self._record(method, body, fault.status)
        self._send(fault.status, payload, content_type, headers)

    def _client_hangs_up(self, timeout: float) -> bool:
        """Wait, answering nothing, until the client closes the connection (True) or `timeout`
        seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:  # reset by the client: it hung up too
                    return True
                time.sleep(0.01)  # data, not a hang-up (no client sends any while waiting)
        return False

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _record(self, method: str, body: Any, status: int) -> None:
        self.posthog.record(
            RecordedRequest(
                method=method,
                path=self.path,
                json=body,
                status=status,
                headers={k: v for k, v in self.headers.items()},
            )
        )
