"""What PostHog's query endpoint does around a query: its result cache, its concurrency limit
and its time limit (reference/posthog.md 3.2, 3.4; posthog/hogql_queries/query_runner.py).

- `refresh: "blocking"` (the default) answers from the cache while the cached result is fresh
  (HogQL queries count as "day" insights: six hours), so a new event can stay invisible;
  `force_blocking` always runs the query and refreshes the cache.
- At most `max_concurrent` queries run per project; a query waits `queue_timeout` seconds for a
  slot, then gets the concurrency 429, which carries no wait.
- Each query stops after `time_limit` seconds (personal API keys get 10 s).
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.posthog.faults import ApiError, error_body, validation_error

HOGQL_STALENESS = timedelta(hours=6)
REFRESH_MODES = frozenset(
    {
        "blocking",
        "force_blocking",
        "force_cache",
        "async",
        "force_async",
        "lazy_async",
        "async_except_on_cache_miss",
    }
)
FRESH_ONLY = frozenset({"force_blocking", "force_async"})


def refresh_mode(body: dict[str, Any]) -> str:
    """The request's `refresh`, as PostHog reads it (legacy booleans included)."""
    raw = body.get("refresh", "blocking")
    if raw is True:
        return "force_blocking"
    if raw is False or raw is None:
        return "blocking"
    if raw not in REFRESH_MODES:
        raise validation_error(f'"{raw}" is not a valid choice.')
    return str(raw)


class ResultCache:
    def __init__(
        self,
        staleness: timedelta = HOGQL_STALENESS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.staleness = staleness
        self.clock = clock
        self._entries: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def key(query: dict[str, Any]) -> str:
        return json.dumps(query, sort_keys=True, default=str)

    def answer(
        self, query: dict[str, Any], mode: str, compute: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        key = self.key(query)
        now = self.clock()
        if mode not in FRESH_ONLY:
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.staleness:
                with self._lock:
                    self.hits += 1
                cached = copy.deepcopy(entry[1])
                cached["is_cached"] = True
                cached["cache_target_age"] = _iso(entry[0] + self.staleness)
                return cached
        response = compute()
        response["cache_key"] = f"cache_{abs(hash(key)):x}"
        response["cache_target_age"] = _iso(now + self.staleness)
        with self._lock:
            self._entries[key] = (now, copy.deepcopy(response))
        return response

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ConcurrencyLimit:
    """PostHog runs at most a few queries per project at once; the rest wait, then get 429."""

    def __init__(self, max_concurrent: int = 3, queue_timeout: float = 30.0) -> None:
        self.max_concurrent = max_concurrent
        self.queue_timeout = queue_timeout
        self._slots = threading.BoundedSemaphore(max_concurrent)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Every slot taken, as by long-running queries (for tests)."""
        for _ in range(self.max_concurrent):
            self._slots.acquire()
        try:
            yield
        finally:
            for _ in range(self.max_concurrent):
                self._slots.release()

    def run(self, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if not self._slots.acquire(timeout=self.queue_timeout):
            # ConcurrencyLimitExceeded becomes DRF's Throttled without a wait: no header, no
            # "Expected available in" (reference/posthog.md 3.6).
            raise ApiError(
                429,
                error_body(
                    "throttled_error",
                    "throttled",
                    f"Exceeded maximum concurrency limit: {self.max_concurrent} for key: "
                    f"{key} and task: {time.monotonic_ns():x}",
                ),
            )
        try:
            return work()
        finally:
            self._slots.release()
