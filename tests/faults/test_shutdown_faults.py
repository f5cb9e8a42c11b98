"""A kill during shutdown with a send in flight: SIGTERM while Slack holds a post, then SIGKILL
before the clean-up is over (a platform that will not wait). The post lands afterwards; another
replica neither posts it again meanwhile nor loses it. A real `clusters-bot scheduler` against
the stand-ins, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.store.schema import OutboxRow
from bot.store.store import Store
from standins.stack import Stack
from tests.support.faults import (
    assert_exactly_once,
    check_env,
    load,
    make_world,
    parents,
    reset_stand_ins,
    running_stack,
)
from tests.support.outbox import LEASE, Clock, held_post, sender, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("outbox-faults") / "unused.db"
    with running_stack(database_url=f"sqlite:///{database}") as running:
        load(running, make_world())
        yield running


def read_lines(process: subprocess.Popen[str]) -> list[str]:
    """The process's output, collected line by line in a thread as it comes."""
    lines: list[str] = []

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=collect, daemon=True).start()
    return lines


@pytest.mark.slow
def test_killed_during_shutdown_with_a_send_in_flight(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    """SIGTERM while Slack holds a post, then SIGKILL before the shutdown is over (a platform
    that will not wait): the post lands afterwards. Another replica on this host neither posts
    it again meanwhile nor loses it: it looks it up once the lease has run out."""
    reset_stand_ins(stack)
    channel = stack.slack.create_channel("shutdown-kill", id=f"C0SK{uuid.uuid4().hex[:6].upper()}")
    env = check_env(stack, database_url, tmp_path) | {"ALERT_CHANNEL": channel}
    with held_post(stack.slack) as hold:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "scheduler"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        try:
            output = read_lines(process)
            assert hold.arrived.wait(120), "the scheduler never posted"
            process.send_signal(signal.SIGTERM)
            wait_until(lambda: any("process.stopping" in line for line in output), 60)
            process.kill()  # mid-shutdown: no clean-up after this
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
        (in_flight,) = [r for r in outbox(database_url, channel) if r.status == "sending"]
        assert in_flight.claimed_at is not None
        clock = Clock(in_flight.claimed_at + timedelta(seconds=1))  # just after the kill
        replica = Store.from_url(database_url, migrate=False, clock=clock)
        try:
            meanwhile = sender(stack.slack, replica).deliver()
            hold.release.set()  # Slack carries the post out after all
            assert stack.slack.wait_for(lambda: len(parents(stack.slack, channel)) >= 3, 30)
            clock.passes(LEASE)
            later = sender(stack.slack, replica).deliver()
            assert_exactly_once(stack.slack, replica, channel, runs=3)
        finally:
            replica.engine.dispose()
    assert meanwhile.recovered == 0
    assert later.recovered == 1


def outbox(database_url: str, channel: str) -> list[OutboxRow]:
    store = Store.from_url(database_url, migrate=False)
    try:
        return store.outbox(channel)
    finally:
        store.engine.dispose()
