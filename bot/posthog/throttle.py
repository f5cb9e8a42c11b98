"""PostHog's long waits, remembered: while PostHog throttles the key, nothing is sent.

PostHog throttles per API key, so one gate serves every client of a process; the error it
raises says when queries resume.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.posthog.errors import PostHogThrottled


class ThrottleGate:
    """Remembers PostHog's long waits: until `resume_at`, nothing is sent. Shared by the
    clients of one process (PostHog throttles per key, not per caller)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._until: float | None = None
        self._resume_at: datetime | None = None
        self._lock = threading.Lock()

    def close_for(self, seconds: float) -> PostHogThrottled:
        with self._lock:
            until = self._clock() + seconds
            if self._until is None or until > self._until:
                self._until = until
                self._resume_at = self._wall() + timedelta(seconds=seconds)
            return self._error_locked()

    def check(self) -> None:
        """Raise `PostHogThrottled` while PostHog's wait lasts."""
        with self._lock:
            if self._until is None:
                return
            if self._clock() >= self._until:
                self._until = self._resume_at = None
                return
            raise self._error_locked()

    @property
    def resume_at(self) -> datetime | None:
        with self._lock:
            if self._until is not None and self._clock() >= self._until:
                self._until = self._resume_at = None
            return self._resume_at

    def _error_locked(self) -> PostHogThrottled:
        assert self._until is not None and self._resume_at is not None
        wait = max(0.0, self._until - self._clock())
        return PostHogThrottled(
            f"PostHog is throttling this API key for {wait:.0f} s more; the bot resumes its "
            f"queries at {self._resume_at:%H:%M:%S} UTC.",
            retry_after=wait,
            resume_at=self._resume_at,
        )
