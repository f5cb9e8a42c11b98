"""Slack's redeliveries of Events API events, dropped once this process has taken the event.

Slack waits 3 s for an event's HTTP 200 and then delivers it again, up to three times, with
`X-Slack-Retry-Num` and `X-Slack-Retry-Reason` headers (`http_timeout`, `http_error`, …;
https://docs.slack.dev/apis/events-api/#retries). Bolt handles each delivery as new, so a slow
ack meant a Home tab published twice or a link card built twice. An event is known by its
`event_id`; those taken are kept `ttl` seconds (Slack's last retry comes about 5 minutes after
the first delivery). A redelivery because this app answered with an error (`http_error`) is
handled again: the first attempt did not do its work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse

logger = logging.getLogger(__name__)

SEEN_TTL = 10 * 60.0
SEEN_MAX = 10_000
RETRY_AFTER_OUR_ERROR = "http_error"


class SeenEvents:
    """event_ids taken in the last `ttl` seconds (at most `limit`, oldest forgotten first);
    thread-safe."""

    def __init__(
        self,
        *,
        ttl: float = SEEN_TTL,
        limit: int = SEEN_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.limit, self.clock = ttl, limit, clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # event_id -> when, oldest first

    def take(self, event_id: str) -> bool:
        """True the first time `event_id` comes within `ttl`; records it."""
        now = self.clock()
        with self._lock:
            while self._seen and (
                len(self._seen) >= self.limit or now - next(iter(self._seen.values())) >= self.ttl
            ):
                self._seen.popitem(last=False)
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True


def _header(request: BoltRequest, name: str) -> str | None:
    values = request.headers.get(name) or []
    return str(values[0]) if values else None


def drop_redeliveries(seen: SeenEvents) -> Callable[..., BoltResponse | None]:
    """A Bolt middleware: a redelivered event already taken here is acked and not handled."""

    def middleware(
        request: BoltRequest, body: dict[str, Any], next: Callable[[], None]
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not seen.take(str(event_id)):
            reason = _header(request, "x-slack-retry-reason")
            if reason != RETRY_AFTER_OUR_ERROR:
                logger.info(
                    "slack.event.redelivery_dropped",
                    extra={
                        "event_id": event_id,
                        "retry_num": _header(request, "x-slack-retry-num"),
                        "reason": reason,
                    },
                )
                return BoltResponse(status=200, body="")
        next()
        return None

    return middleware
