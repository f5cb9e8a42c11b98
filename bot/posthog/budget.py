"""A client-side token bucket for HogQL queries.

PostHog may allow as few as 120 HogQL queries per hour per key, shared with everything else the
key does (reference/posthog.md 3.5). The bot spends from its own, smaller-or-equal budget and
fails fast with `PostHogBudgetExhausted` instead of queueing or hanging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.posthog.errors import PostHogBudgetExhausted


class QueryBudget:
    def __init__(self, per_hour: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_hour)
        self._rate = per_hour / 3600.0
        self._tokens = float(per_hour)
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()
        self.spent = 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    @property
    def remaining(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def acquire(self) -> None:
        """Spend one query, or raise with how long until one is available."""
        with self._lock:
            self._refill()
            if self._tokens < 1:
                wait = (1 - self._tokens) / self._rate
                raise PostHogBudgetExhausted(
                    f"The bot's PostHog query budget ({int(self.capacity)} per hour) is spent; "
                    f"try again in {wait:.0f} s",
                    retry_after=wait,
                )
            self._tokens -= 1
            self.spent += 1
