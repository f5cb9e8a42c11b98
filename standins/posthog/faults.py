"""Fault injection and request recording for the sandbox PostHog.

Faults are queued and consumed in order: a request takes the first queued fault whose
`path_contains` occurs in its path (query string included), and that fault's `count` drops by
one. Bodies follow PostHog's drf-exceptions-hog shape unless `body` is given. A 429 says its
wait only in the detail text, as PostHog's exception handler builds its response without
headers; `retry_after_header=True` adds a `Retry-After` too (other versions, proxies).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any

HANG_MAX = 60.0  # seconds a `hang` fault waits for its client to give up


@dataclass
class Fault:
    status: int
    count: int = 1
    path_contains: str = "/query/"
    retry_after: float | None = None
    delay: float = 0.0
    body: bytes | None = None
    drop_connection: bool = False
    retry_after_header: bool = False
    # Answer nothing until the client gives up (closes the connection; at most HANG_MAX
    # seconds): a request that times out however slow or fast the machine is. `given_up`
    # counts the requests whose client hung up first.
    hang: bool = False
    given_up: int = 0

    @property
    def serves_normally(self) -> bool:
        """A delay-only fault: sleep, then answer as if nothing happened."""
        return (
            self.status == 200 and self.body is None and not self.drop_connection and not self.hang
        )


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        status: int,
        *,
        count: int = 1,
        path_contains: str = "/query/",
        retry_after: float | None = None,
        delay: float = 0.0,
        body: bytes | None = None,
        drop_connection: bool = False,
        retry_after_header: bool = False,
        hang: bool = False,
    ) -> Fault:
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = Fault(
            status,
            count,
            path_contains,
            retry_after,
            delay,
            body,
            drop_connection,
            retry_after_header,
            hang,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def given_up(self, fault: Fault) -> None:
        """Count a client that hung up on `fault` (a `hang`)."""
        with self._lock:
            fault.given_up += 1

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault matching `path`."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path_contains in path:
                    fault.count -= 1
                    if fault.count <= 0:
                        del self._faults[index]
                    return fault
        return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. `status` is 0 when no answer was sent (the connection
    was dropped, or the client gave up on a `hang`)."""

    method: str
    path: str
    json: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)


def error_body(error_type: str, code: str, detail: str) -> dict[str, Any]:
    return {"type": error_type, "code": code, "detail": detail, "attr": None}


def throttled_body(retry_after: float | None) -> dict[str, Any]:
    detail = "Request was throttled."
    if retry_after is not None:
        detail += f" Expected available in {math.ceil(retry_after)} seconds."
    return error_body("throttled_error", "throttled", detail)


_GATEWAY_PAGES = {
    502: b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
    504: b"<html><head><title>504 Gateway Time-out</title></head>"
    b"<body>504 Gateway Time-out</body></html>",
}


def default_fault_response(fault: Fault) -> tuple[bytes, str]:
    """(body, content type) for a fault without an explicit body."""
    status = fault.status
    if status in _GATEWAY_PAGES:
        return _GATEWAY_PAGES[status], "text/html"
    if status == 429:
        payload = throttled_body(fault.retry_after)
    elif status == 400:
        payload = error_body("validation_error", "invalid_input", "Injected validation error.")
    elif status == 401:
        payload = error_body(
            "authentication_error", "authentication_failed", "Invalid personal API key."
        )
    elif status == 403:
        payload = error_body(
            "authentication_error",
            "permission_denied",
            "You do not have permission to perform this action.",
        )
    elif status == 404:
        payload = error_body("invalid_request", "not_found", "Not found.")
    elif status == 503:
        payload = error_body("server_error", "service_unavailable", "Service unavailable.")
    elif status >= 500:
        payload = error_body("server_error", "error", "A server error occurred.")
    else:
        payload = {"detail": f"Injected status {status}."}
    return json.dumps(payload).encode(), "application/json"


class ApiError(Exception):
    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("detail"))
        self.status = status
        self.payload = payload


def validation_error(detail: str) -> ApiError:
    return ApiError(400, error_body("validation_error", "invalid_input", detail))


def not_found(detail: str = "Not found.") -> ApiError:
    return ApiError(404, error_body("invalid_request", "not_found", detail))
