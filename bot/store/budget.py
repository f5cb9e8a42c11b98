"""PostHog query budgets kept in the database, so every process of a deployment draws from the
same ones (web, socket and scheduler processes, and their replicas).

A budget allows `per_hour` queries in any hour: a sliding window, as PostHog's own throttles
count (DRF's `SimpleRateThrottle` keeps the times of the last hour's requests). A token bucket
would let a full bucket and an hour of refill through in the same hour, twice the quota.

Each spend is one short transaction: it first updates the budget's row, which serialises spends
of that budget (PostgreSQL locks the row until commit; SQLite takes its write lock), then counts
the last hour's spends and records one if there is room. No process holds a lock while it talks
to PostHog.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.posthog.budget import exhausted
from bot.store.schema import QueryBudgetRow, QuerySpendRow

SCHEDULER = "scheduler"
COMMANDS = "commands"
WINDOW = 3600.0

B = QueryBudgetRow
S = QuerySpendRow


def user_bucket(user: str) -> str:
    return f"user:{user}"


class SharedBudget:
    """`per_hour` queries in any hour, shared by every handle with the same `name`."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        per_hour: int,
        *,
        label: str = "The bot's PostHog query budget",
        clock: Callable[[], float] = time.time,
        window: float = WINDOW,
    ) -> None:
        self.engine = engine
        self.name = name
        self.capacity = float(per_hour)
        self.label = label
        self._clock = clock
        self._window = window
        self.spent = 0
        self._ensured = False

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
                                name=self.name, capacity=self.capacity, updated_at=self._clock()
                            )
                        )
                except IntegrityError:
                    pass  # another process created it first
        self._ensured = True

    def _used(self, now: float) -> tuple[int, float | None]:
        """Spends in the window ending `now`, and the oldest of them."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(func.count(), func.min(S.at)).where(
                    S.name == self.name, S.at > now - self._window
                )
            ).one()
        return int(row[0]), row[1]

    @property
    def remaining(self) -> float:
        self._ensure()
        used, _ = self._used(self._clock())
        return max(self.capacity - used, 0.0)

    def acquire(self) -> None:
        self._ensure()
        now = self._clock()
        with self.engine.begin() as connection:
            # The lock: every spend of this budget passes through this row, one at a time.
            connection.execute(
                update(B).where(B.name == self.name).values(capacity=self.capacity, updated_at=now)
            )
            connection.execute(delete(S).where(S.name == self.name, S.at <= now - self._window))
            used, oldest = connection.execute(
                select(func.count(), func.min(S.at)).where(S.name == self.name)
            ).one()
            if used < self.capacity:
                connection.execute(insert(S).values(name=self.name, at=now))
                self.spent += 1
                return
        wait = (oldest or now) + self._window - now
        raise exhausted(self.label, self.capacity, max(wait, 1.0))

    def refund(self) -> None:
        """Forget the newest spend (acquired, never sent)."""
        with self.engine.begin() as connection:
            newest = connection.scalar(
                select(S.id).where(S.name == self.name).order_by(S.at.desc(), S.id.desc()).limit(1)
            )
            if newest is not None:
                connection.execute(delete(S).where(S.id == newest))
                self.spent -= 1
