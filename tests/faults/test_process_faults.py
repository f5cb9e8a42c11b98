"""The process dies (SIGKILL): after alerts are stored but before any is sent, and in the middle
of a send that Slack then carries out. A real `python -m bot check` runs against the stand-ins
and is killed; the next runs of `check` deliver every alert exactly once.

A killed process leaves its claims behind: a series lease (10 min) and an outbox row in
`sending` (recovered after 30 s). Rather than wait, the tests move those clocks forward. Where
the process must be killed is an event, not a sleep: the local PostHog or the fake Slack holds
the request the process is waiting on until it is dead.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, update

from bot.store.schema import OutboxRow, SeriesLeaseRow, utcnow
from bot.store.store import Store
from standins.stack import Stack
from standins.traffic.generator import World
from tests.support.faults import (
    QUIET,
    assert_exactly_once,
    check_env,
    load,
    make_world,
    parents,
    reset_stand_ins,
    run_check,
    running_stack,
    start_check,
)
from tests.support.outbox import held_post

PLANTED_RUNS = 3


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("process-faults") / "unused.db"
    with running_stack(database_url=f"sqlite:///{database}") as running:
        load(running, world)
        yield running


@pytest.fixture(autouse=True)
def clean(stack: Stack) -> Iterator[None]:
    reset_stand_ins(stack)
    yield
    reset_stand_ins(stack)


class Cli:
    """`python -m bot check` with its own database and alert channel on the shared stand-ins."""

    def __init__(self, stack: Stack, tmp_path: Path, channel: str) -> None:
        self.stack, self.tmp_path, self.channel = stack, tmp_path, channel
        self.url = f"sqlite:///{tmp_path / 'cli.db'}"
        self.env = check_env(stack, self.url, tmp_path) | {"ALERT_CHANNEL": channel} | QUIET
        self.engine = create_engine(self.url)

    def start(self) -> subprocess.Popen[str]:
        return start_check(self.env, self.tmp_path)

    def run(self) -> subprocess.CompletedProcess[str]:
        result = run_check(self.env, self.tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    def rows(self, *where: object) -> int:
        """Outbox rows (matching `where`); 0 while the schema does not exist yet."""
        try:
            with self.engine.connect() as connection:
                query = select(func.count()).select_from(OutboxRow).where(*where)  # type: ignore[arg-type]
                return int(connection.scalar(query) or 0)
        except Exception:
            return 0

    def time_passes(self) -> None:
        """Eleven minutes later: the dead process's series leases and claims have expired."""
        past = utcnow() - timedelta(minutes=11)
        with self.engine.begin() as connection:
            connection.execute(update(SeriesLeaseRow).values(lease_until=past))
            connection.execute(
                update(OutboxRow).where(OutboxRow.claimed_at.is_not(None)).values(claimed_at=past)
            )

    def assert_exactly_once(self) -> None:
        store = Store.from_url(self.url)
        try:
            assert_exactly_once(self.stack.slack, store, self.channel, runs=PLANTED_RUNS)
        finally:
            store.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def cli(stack: Stack, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cli]:
    name = "".join(ch for ch in request.node.name.upper() if ch.isalnum())[-8:]
    channel = stack.slack.create_channel(f"kill-{name.lower()}", id=f"C0K{name}")
    running = Cli(stack, tmp_path, channel)
    yield running
    running.close()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


@contextmanager
def posthog_hangs_once_stored(stack: Stack, cli: Cli) -> Iterator[threading.Event]:
    """The first PostHog query asked after the check stored its first alerts hangs (the local
    PostHog holds it, unanswered) until the test is over; the event is set when it arrives."""
    arrived, over = threading.Event(), threading.Event()
    take = stack.posthog.faults.take

    def taking(path: str) -> Any:
        if not arrived.is_set() and cli.rows() > 0:
            arrived.set()
            over.wait(60)
        return take(path)

    stack.posthog.faults.take = taking  # type: ignore[method-assign]
    try:
        yield arrived
    finally:
        over.set()
        del stack.posthog.faults.take


def test_killed_between_storing_and_sending(stack: Stack, cli: Cli) -> None:
    # The first series is stored; the process is busy with the next one (a query PostHog
    # holds) when it is killed. Sending comes after the last series.
    with posthog_hangs_once_stored(stack, cli) as hanging:
        process = cli.start()
        wait_until(lambda: hanging.is_set() or process.poll() is not None)
        kill(process)
    stored = cli.rows()
    assert stored > 0
    assert parents(stack.slack, cli.channel) == [], "nothing was sent before the kill"
    after = cli.run()  # right after the restart: the stored alerts go out
    assert "processed" in after.stdout
    assert len(parents(stack.slack, cli.channel)) >= 1
    cli.time_passes()  # the dead process's lease on the series it was working on expires
    cli.run()
    cli.assert_exactly_once()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["parent", "reply"])
def test_killed_mid_send_then_slack_posts_it_anyway(stack: Stack, cli: Cli, which: str) -> None:
    if which == "reply":
        stack.slack.faults.add("chat.postMessage", count=1)  # the first parent goes out
    before = len(stack.slack.calls_to("chat.postMessage"))
    in_flight = 2 if which == "reply" else 1
    # The fake Slack holds the next chat.postMessage (the request in its hands, no answer yet)
    # and carries it out once the bot is dead.
    with held_post(stack.slack, skip=in_flight - 1) as hold:
        process = cli.start()
        assert hold.arrived.wait(60), "the bot never sent the message"
        kill(process)  # Slack has the request; the bot dies before it hears back
    assert stack.slack.wait_for(
        lambda: len(stack.slack.calls_to("chat.postMessage")) >= before + in_flight, 10
    ), "the message lands anyway"
    assert cli.rows(OutboxRow.status == "sending") == 1
    cli.run()  # a fresh claim is respected: the in-flight row waits for recovery
    cli.time_passes()  # 30 s on: the row is recovered by looking it up in Slack, not re-sent
    cli.run()
    cli.assert_exactly_once()
