"""The fake Slack's HTTP layer: the server, the request handler, replies and scripted faults."""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REQUEST_BODY_MAX = 1024 * 1024  # Slack refuses Web API requests over 1 MiB with HTTP 413


@dataclass
class Reply:
    status: int
    body: Any  # dict -> JSON, str -> text/plain
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    method: str
    status: int
    error: str | None
    remaining: int | None
    retry_after: float | None
    drop_connection: bool
    delay: float
    after: bool = False

    @property
    def fails(self) -> bool:
        return self.drop_connection or self.status != 200 or self.error is not None

    def reply(self) -> Reply | None:
        """The faulty reply; None means "drop the connection"."""
        if self.drop_connection:
            return None
        if self.status == 429:
            retry_after = str(math.ceil(self.retry_after if self.retry_after is not None else 1))
            body = {"ok": False, "error": self.error or "ratelimited"}
            return Reply(429, body, {"Retry-After": retry_after})
        default = "internal_error" if self.status >= 500 else "request_failed"
        return Reply(self.status, {"ok": False, "error": self.error or default})


class Faults:
    """Scripted failures, consumed in the order added. ``method`` "*" matches any API method."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        count: int | None = 1,
        retry_after: float | None = None,
        drop_connection: bool = False,
        delay: float = 0.0,
        after: bool = False,
    ) -> None:
        """Fail the next ``count`` calls (None: until cleared).

        ``error`` alone gives HTTP 200 ``{"ok": false, "error": ...}``; ``status=429`` sends
        ``Retry-After`` (whole seconds, rounded up; default 1); 5xx sends a JSON error body;
        ``drop_connection`` closes the socket without a response; ``delay`` sleeps first and,
        with no other fault set, then answers normally. ``after`` carries the call out first and
        then fails: the ambiguous outcome (posted, but the caller saw an error) of a real outage.
        """
        fault = Fault(method, status, error, count, retry_after, drop_connection, delay, after)
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method or (fault.method == "*" and "." in method):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


# (path, query and form params, raw body, token) -> the reply, or None to drop the connection
Route = Callable[[str, dict[str, Any], bytes, str | None], Reply | None]


class Server(ThreadingHTTPServer):
    """Serves one `route` (``FakeSlack._route``); this module never imports the fake itself."""

    daemon_threads = True  # a delayed (faulty) request must not block stop()
    request_queue_size = 128  # the default 5 makes concurrent clients wait for SYN retries

    def __init__(self, address: tuple[str, int], route: Route) -> None:
        self.route = route
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # client gave up: not our bug
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > REQUEST_BODY_MAX:  # refused unread, as Slack's front end does
            self.close_connection = True
            self._send(Reply(413, "request_too_large"))
            return
        raw = self.rfile.read(length)
        params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
        content_type = self.headers.get("Content-Type", "")
        if split.path.startswith("/upload/"):
            pass  # raw file bytes (urllib labels them form-encoded)
        elif content_type.startswith("application/json") and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None  # then the method sees missing params and says so
            params.update(body if isinstance(body, dict) else {})
        elif content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        server: Server = self.server  # type: ignore[assignment]
        reply = server.route(split.path, params, raw, token or params.pop("token", None))
        if reply is None:  # drop_connection: close without a response
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        is_json = isinstance(reply.body, dict)
        data = (json.dumps(reply.body) if is_json else str(reply.body)).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json" if is_json else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: every request is in ``FakeSlack.calls``."""
