"""PostHog query budgets kept in the database, so every process of a deployment draws from the
same token buckets (web, socket and scheduler processes, and their replicas).

One conditional UPDATE refills and spends in a single statement, so a spend is atomic on both
engines: SQLite serialises writers on the file, and PostgreSQL re-checks the WHERE clause on the
newest row version when two transactions race for the same row (READ COMMITTED). No process
ever holds a lock while it talks to PostHog.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import ColumnElement, Engine, case, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from bot.posthog.budget import exhausted
from bot.store.schema import QueryBudgetRow

SCHEDULER = "scheduler"
COMMANDS = "commands"

B = QueryBudgetRow


def user_bucket(user: str) -> str:
    return f"user:{user}"


class SharedBudget:
    """A token bucket row: `per_hour` queries an hour, refilled continuously."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        per_hour: int,
        *,
        label: str = "The bot's PostHog query budget",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.name = name
        self.capacity = float(per_hour)
        self.label = label
        self._rate = per_hour / 3600.0
        self._clock = clock
        self.spent = 0
        self._ensured = False

    def _level(self, now: float) -> ColumnElement[float]:
        """SQL for the bucket's level at `now`: refilled, capped at capacity (clock skew between
        processes never drains it)."""
        elapsed = case((B.updated_at < now, literal(now) - B.updated_at), else_=0.0)
        filled = B.tokens + elapsed * self._rate
        return case((filled > self.capacity, self.capacity), else_=filled)

    def _ensure(self) -> None:
        if self._ensured:
            return
        with self.engine.begin() as connection:
            exists = connection.scalar(select(B.name).where(B.name == self.name))
            if exists is None:
                try:
                    with connection.begin_nested():
                        connection.execute(
                            insert(B).values(
                                name=self.name,
                                capacity=self.capacity,
                                tokens=self.capacity,
                                updated_at=self._clock(),
                            )
                        )
                except IntegrityError:
                    pass  # another process created it first
        self._ensured = True

    def _take(self, amount: float) -> bool:
        """Spend `amount` (negative: give back) if the bucket holds it; atomic."""
        self._ensure()
        now = self._clock()
        level = self._level(now)
        tokens: ColumnElement[float] = level - amount
        if amount < 0:
            tokens = case((tokens > self.capacity, self.capacity), else_=tokens)
        statement = (
            update(B)
            .where(B.name == self.name)
            .values(
                tokens=tokens,
                updated_at=case((B.updated_at < now, now), else_=B.updated_at),
                capacity=self.capacity,
            )
        )
        if amount > 0:
            statement = statement.where(level >= amount)
        with self.engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)

    @property
    def remaining(self) -> float:
        self._ensure()
        with self.engine.connect() as connection:
            value = connection.scalar(select(self._level(self._clock())).where(B.name == self.name))
        return float(value if value is not None else self.capacity)

    def acquire(self) -> None:
        if self._take(1.0):
            self.spent += 1
            return
        left = self.remaining
        raise exhausted(self.label, self.capacity, max(1 - left, 0.0) / self._rate)

    def refund(self) -> None:
        self._take(-1.0)
        self.spent -= 1
