"""The deployment's query budgets in the database: one budget shared by every process, atomic on
SQLite and PostgreSQL (issue 13 item 5), split between commands and the scheduler, with a share
per user (issue 12 item 6). A budget counts a sliding hour, as PostHog's throttles do."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from bot.posthog.budget import CommandBudget, spending_for
from bot.posthog.errors import PostHogBudgetExhausted
from bot.store.budget import COMMANDS, SCHEDULER, SharedBudget, user_bucket
from bot.store.store import Store


class WallClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.from_url(database_url)
    yield store
    store.engine.dispose()


def test_two_processes_handles_draw_from_one_bucket(store: Store) -> None:
    clock = WallClock()
    first = SharedBudget(store.engine, SCHEDULER, 10, clock=clock)
    second = SharedBudget(store.engine, SCHEDULER, 10, clock=clock)  # another process's view
    for _ in range(6):
        first.acquire()
    for _ in range(4):
        second.acquire()
    with pytest.raises(PostHogBudgetExhausted) as error:
        first.acquire()
    assert error.value.retry_after == pytest.approx(3600)  # the oldest spend leaves the hour
    assert second.remaining == pytest.approx(0)
    assert (first.spent, second.spent) == (6, 4)


def test_no_more_than_the_budget_in_any_hour_as_posthog_counts(store: Store) -> None:
    clock = WallClock()
    budget = SharedBudget(store.engine, SCHEDULER, 60, clock=clock)
    for _ in range(30):
        budget.acquire()
    clock.now += 1800
    for _ in range(30):
        budget.acquire()
    clock.now += 120  # a token bucket would have refilled two by now: PostHog would not
    with pytest.raises(PostHogBudgetExhausted) as error:
        budget.acquire()
    assert error.value.retry_after == pytest.approx(3600 - 1920)
    clock.now += 3600 - 1920 + 1  # the first 30 have left the hour
    assert budget.remaining == pytest.approx(30)
    for _ in range(30):
        budget.acquire()
    with pytest.raises(PostHogBudgetExhausted):
        budget.acquire()


def test_a_clock_a_little_behind_still_counts_the_others_spends(store: Store) -> None:
    clock = WallClock()
    ahead = SharedBudget(store.engine, SCHEDULER, 60, clock=clock)
    ahead.acquire()
    behind = SharedBudget(store.engine, SCHEDULER, 60, clock=lambda: clock.now - 10)
    assert behind.remaining == pytest.approx(59)
    behind.acquire()
    assert ahead.remaining == pytest.approx(58)


def test_buckets_are_separate_by_name(store: Store) -> None:
    clock = WallClock()
    scheduler = SharedBudget(store.engine, SCHEDULER, 2, clock=clock)
    commands = SharedBudget(store.engine, COMMANDS, 2, clock=clock)
    commands.acquire()
    commands.acquire()
    with pytest.raises(PostHogBudgetExhausted):
        commands.acquire()
    scheduler.acquire()  # commands cannot starve the scheduler
    assert scheduler.remaining == pytest.approx(1)


def test_threads_racing_never_overspend(store: Store) -> None:
    budget_size = 40
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = SharedBudget(store.engine, SCHEDULER, budget_size)
        for _ in range(10):
            try:
                mine.acquire()
            except PostHogBudgetExhausted:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]  # 80 attempts for 40
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == budget_size


SPENDER = """
import sys
from bot.posthog.errors import PostHogBudgetExhausted
from bot.store.budget import SharedBudget
from bot.store.store import Store
store = Store.from_url(sys.argv[1])
budget = SharedBudget(store.engine, "scheduler", int(sys.argv[2]))
got = 0
for _ in range(int(sys.argv[3])):
    try:
        budget.acquire()
        got += 1
    except PostHogBudgetExhausted:
        pass
print(got)
"""


def test_three_processes_spend_one_budget_between_them(database_url: str) -> None:
    Store.from_url(database_url).engine.dispose()  # migrate once, up front
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SPENDER, database_url, "30", "25"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [err for _, err in results]
    spent = [int(out.strip()) for out, _ in results]
    assert sum(spent) == 30  # 75 attempts against one budget of 30, not 3 x 30


def test_a_user_share_runs_out_before_the_commands_pool(store: Store) -> None:
    clock = WallClock()
    pool = SharedBudget(store.engine, COMMANDS, 10, clock=clock)
    budget = CommandBudget(
        pool,
        per_user=lambda user: SharedBudget(
            store.engine, user_bucket(user), 3, label="Your share", clock=clock
        ),
    )
    with spending_for("U1"):
        for _ in range(3):
            budget.acquire()
        with pytest.raises(PostHogBudgetExhausted, match=r"Your share \(3 per hour\) is spent"):
            budget.acquire()
    with spending_for("U2"):
        budget.acquire()  # another user still gets answers
    assert pool.remaining == pytest.approx(6)


def test_a_spent_pool_gives_the_user_token_back(store: Store) -> None:
    clock = WallClock()
    pool = SharedBudget(store.engine, COMMANDS, 1, clock=clock)
    mine = SharedBudget(store.engine, user_bucket("U1"), 5, clock=clock)
    budget = CommandBudget(pool, per_user=lambda user: mine)
    with spending_for("U2"):
        SharedBudget(store.engine, COMMANDS, 1, clock=clock).acquire()
    with spending_for("U1"), pytest.raises(PostHogBudgetExhausted):
        budget.acquire()
    assert mine.remaining == pytest.approx(5)


def test_wiring_gives_commands_and_scheduler_separate_shared_budgets(tmp_path) -> None:
    import httpx

    from bot.listeners.errors import user_message
    from bot.settings import Settings
    from bot.wiring import build_services

    ok = {"results": [], "columns": [], "types": [], "hasMore": False}
    http = httpx.Client(
        base_url="https://posthog.test",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=ok)),
    )
    settings = Settings(
        posthog_project_id=2,
        posthog_api_key="phx_test",
        slack_bot_token="xoxb-test",
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        posthog_query_budget_per_hour=12,
        posthog_command_budget_per_hour=4,
        posthog_user_budget_per_hour=2,
    )
    services = build_services(settings, http=http)
    try:
        with spending_for("U1"):
            services.command_posthog.query("SELECT 1 LIMIT 1", {}, name="a")
            services.command_posthog.query("SELECT 1 LIMIT 1", {}, name="b")
            with pytest.raises(PostHogBudgetExhausted) as error:
                services.command_posthog.query("SELECT 1 LIMIT 1", {}, name="c")
        assert "Your share of the bot's PostHog queries (2 per hour) is spent" in str(error.value)
        assert user_message(error.value) == str(error.value)
        assert services.command_posthog.budget.remaining == pytest.approx(2, abs=0.01)
        assert services.posthog.budget.remaining == pytest.approx(8, abs=0.01)
        gauges = {
            line.split()[0]: float(line.split()[1])
            for line in services.metrics.render().decode().splitlines()
            if line.startswith("clusters_bot_posthog_query_budget_remaining{")
        }
        assert gauges['clusters_bot_posthog_query_budget_remaining{budget="commands"}'] == (
            pytest.approx(2, abs=0.01)
        )
        assert gauges['clusters_bot_posthog_query_budget_remaining{budget="scheduler"}'] == (
            pytest.approx(8, abs=0.01)
        )
    finally:
        services.close()
