"""Query budgets: what the bot spends from before each HogQL query.

PostHog may allow as few as 120 HogQL queries per hour per key, shared with everything else the
key does (reference/posthog.md 3.5). The bot spends from its own, smaller-or-equal budget and
fails fast with `PostHogBudgetExhausted` instead of queueing or hanging.

`QueryBudget`, a token bucket, lives in one process (tests, tools). A deployment keeps its
budgets in the database (`bot.store.budget.SharedBudget`, a sliding hour as PostHog counts) so
every process draws from the same ones, split in two: the scheduler's and the commands', and
each user's share of the commands' (`CommandBudget`), so no one can starve the alert cycle with
`/clusters`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol

from bot.posthog.errors import PostHogBudgetExhausted


class Budget(Protocol):
    """One unit per HogQL query."""

    @property
    def capacity(self) -> float: ...

    @property
    def spent(self) -> int:
        """Queries this process took from the budget."""

    @property
    def remaining(self) -> float: ...

    def acquire(self) -> None:
        """Spend one query, or raise `PostHogBudgetExhausted` with the wait."""

    def refund(self) -> None:
        """Give one back (a query acquired but never sent)."""


def exhausted(what: str, per_hour: float, wait: float) -> PostHogBudgetExhausted:
    return PostHogBudgetExhausted(
        f"{what} ({int(per_hour)} per hour) is spent; try again in {_duration(wait)}",
        retry_after=wait,
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min"


class QueryBudget:
    def __init__(
        self,
        per_hour: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        label: str = "The bot's PostHog query budget",
    ) -> None:
        self.capacity = float(per_hour)
        self.label = label
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
                raise exhausted(self.label, self.capacity, (1 - self._tokens) / self._rate)
            self._tokens -= 1
            self.spent += 1

    def refund(self) -> None:
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + 1)
            self.spent -= 1


# The Slack user a command runs for; set around the work of one command or button.
_asker: ContextVar[str | None] = ContextVar("clusters_bot_asker", default=None)


@contextlib.contextmanager
def spending_for(user: str | None) -> Iterator[None]:
    """Charge the queries made inside this block to `user`'s share of the command budget."""
    token = _asker.set(user)
    try:
        yield
    finally:
        _asker.reset(token)


def current_asker() -> str | None:
    return _asker.get()


class CommandBudget:
    """The commands' pool, and within it each user's share: a query needs both."""

    def __init__(self, pool: Budget, per_user: Callable[[str], Budget] | None = None) -> None:
        self.pool = pool
        self._per_user = per_user
        self.capacity = pool.capacity

    @property
    def spent(self) -> int:
        return self.pool.spent

    @property
    def remaining(self) -> float:
        return self.pool.remaining

    def user_budget(self, user: str) -> Budget | None:
        return self._per_user(user) if self._per_user is not None else None

    def acquire(self) -> None:
        user = current_asker()
        mine = self.user_budget(user) if user else None
        if mine is not None:
            mine.acquire()
        try:
            self.pool.acquire()
        except PostHogBudgetExhausted:
            if mine is not None:
                mine.refund()
            raise

    def refund(self) -> None:
        self.pool.refund()
        user = current_asker()
        mine = self.user_budget(user) if user else None
        if mine is not None:
            mine.refund()
