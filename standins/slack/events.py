"""How the fake Slack delivers Events API events to the app, as Slack does: an HTTP POST that
must be answered with a 2xx within 3 seconds, else delivered again, up to three times (nearly
at once, after a minute, after five), with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`
headers; an answer carrying `X-Slack-No-Retry: 1` stops the retries
(https://docs.slack.dev/apis/events-api/#retries). Every attempt is recorded in
``FakeSlack.deliveries``, with how many Web API calls the fake had seen when its answer came (so
tests can say what the app did before its ack)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

ACK_TIMEOUT = 3.0
RETRY_DELAYS = (0.0, 60.0, 300.0)  # before each of Slack's three retries


@dataclass(frozen=True)
class Delivery:
    """One attempt at delivering an event."""

    event_id: str
    attempt: int  # 1 the first delivery; 2-4 Slack's retries (X-Slack-Retry-Num = attempt - 1)
    status: int | None  # the app's HTTP status; None when it did not answer in time or at all
    retry_reason: str | None  # why Slack delivers again (None: acked, or no retries left)
    calls_before_ack: int  # the fake's recorded Web API calls when the answer came


class EventsMixin:
    calls: list[Any]
    _lock: Any

    def _init_events(self) -> None:
        self.deliveries: list[Delivery] = []
        self.ack_timeout = ACK_TIMEOUT
        self.event_retry_delays: tuple[float, ...] = RETRY_DELAYS
        self._stopping = threading.Event()

    def deliver_event(
        self, url: str, body: str, sign: Callable[[str], dict[str, str]]
    ) -> httpx.Response:
        """POST the event `body` to the app's `url` (`sign` gives the signed headers, fresh for
        each attempt); the first attempt's answer, or a 408 when none came within
        `ack_timeout`. Retries, when due, follow on a thread of their own."""
        event_id = str(json.loads(body).get("event_id") or "")
        response, reason = self._attempt(url, body, sign, event_id, 1)
        if reason is not None and self.event_retry_delays:
            threading.Thread(
                target=self._retry,
                args=(url, body, sign, event_id, reason),
                name=f"fake-slack-retry-{event_id}",
                daemon=True,
            ).start()
        return response

    def deliveries_of(self, event_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.event_id == event_id]

    def _retry(
        self, url: str, body: str, sign: Callable[[str], dict[str, str]], event_id: str, reason: str
    ) -> None:
        for number, delay in enumerate(self.event_retry_delays, start=1):
            if self._stopping.wait(delay):
                return
            _, again = self._attempt(url, body, sign, event_id, number + 1, reason)
            if again is None:
                return
            reason = again

    def _attempt(
        self,
        url: str,
        body: str,
        sign: Callable[[str], dict[str, str]],
        event_id: str,
        attempt: int,
        reason: str | None = None,
    ) -> tuple[httpx.Response, str | None]:
        """One POST; the answer and the reason to deliver again (None: acked, or told not to)."""
        headers = sign(body) | {"Content-Type": "application/json"}
        if attempt > 1:
            headers |= {"X-Slack-Retry-Num": str(attempt - 1), "X-Slack-Retry-Reason": str(reason)}
        again: str | None
        try:
            response = httpx.post(
                url, content=body.encode(), headers=headers, timeout=self.ack_timeout
            )
            status: int | None = response.status_code
            again = None if 200 <= response.status_code < 300 else "http_error"
            if response.headers.get("X-Slack-No-Retry") == "1":
                again = None
        except httpx.TimeoutException:
            response, status, again = httpx.Response(408, text="http_timeout"), None, "http_timeout"
        except httpx.TransportError:
            response, status = httpx.Response(503, text="connection_failed"), None
            again = "connection_failed"
        with self._lock:
            last = attempt > len(self.event_retry_delays)
            self.deliveries.append(
                Delivery(event_id, attempt, status, None if last else again, len(self.calls))
            )
        return response, again
