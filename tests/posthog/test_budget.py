"""The client-side query budget: a token bucket that fails fast."""

import pytest

from bot.posthog.budget import QueryBudget
from bot.posthog.errors import PostHogBudgetExhausted


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_allows_capacity_then_refuses_with_wait() -> None:
    clock = FakeClock()
    budget = QueryBudget(120, clock=clock)
    for _ in range(120):
        budget.acquire()
    with pytest.raises(PostHogBudgetExhausted) as error:
        budget.acquire()
    assert error.value.retry_after == pytest.approx(30.0)  # 120/h refills one every 30 s
    assert "120 per hour" in str(error.value)
    assert budget.spent == 120


def test_budget_refills_over_time_up_to_capacity() -> None:
    clock = FakeClock()
    budget = QueryBudget(60, clock=clock)
    for _ in range(60):
        budget.acquire()
    clock.now += 120  # two minutes: two queries
    budget.acquire()
    budget.acquire()
    with pytest.raises(PostHogBudgetExhausted):
        budget.acquire()
    clock.now += 10 * 3600
    assert budget.remaining == pytest.approx(60)
