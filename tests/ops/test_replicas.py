"""Several scheduler processes against one PostgreSQL: each run processed once, each alert
delivered once, and a process killed mid-send loses nothing.

A process killed while it works on a series keeps that series' lease until the lease runs out
(`SERIES_LEASE`, ten minutes: longer than any series takes), so the series is only delayed;
the kill test waits until every run's alerts are stored before it kills, so that the kills land
in the sending, where a loss or a duplicate could happen."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.store import Store
from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from tests.support.alerting import load, make_world
from tests.support.postgres import postgres_schema


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'unused.db'}") as running:
        load(running, make_world())
        yield running


def start_schedulers(
    stack: Stack, database_url: str, count: int, tmp_path: Path
) -> list[subprocess.Popen[bytes]]:
    env = stack.environment(
        database_url,
        HOME=str(tmp_path),
        POLL_INTERVAL_SECONDS="10",
        OUTBOX_RECOVER_SECONDS="2",
        # What a killed process left in `sending` is taken over at the survivors' next pass
        # over the outbox: every second here, not every 10 s (the poll interval's floor).
        OUTBOX_RETRY_SECONDS="1",
        SLACK_POST_INTERVAL_SECONDS="0",  # no channel pace: a second a message
        # Each alert once is the question, not its trend charts (a courtesy outside the outbox,
        # seconds of matplotlib per process) or early warnings (none in this world).
        CHARTS="false",
        EARLY_WARNING_INTERVAL="off",
    )
    return [
        subprocess.Popen(
            [sys.executable, "-m", "jobs"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def posted(stack: Stack) -> list[Message]:
    messages = []
    for parent in stack.slack.messages(ALERT_CHANNEL):
        if parent.ephemeral_for is None:
            messages.append(parent)
            messages.extend(stack.slack.thread(ALERT_CHANNEL, parent.ts))
    return messages


def wait_until_all_sent(store: Store, minimum: int, timeout: float) -> None:
    wait_until_stored(store, minimum, timeout, sent=True)


def wait_until_stored(store: Store, minimum: int, timeout: float, *, sent: bool = False) -> None:
    """Until the outbox holds `minimum` rows (all of them sent, with `sent`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = store.outbox()
        if len(rows) >= minimum and (not sent or all(row.status == "sent" for row in rows)):
            return
        time.sleep(0.05)
    what = "sent" if sent else "stored"
    raise AssertionError(f"not all {what}: {[(r.key, r.status) for r in store.outbox()]}")


def assert_exactly_once(stack: Stack, store: Store) -> None:
    texts = posted(stack)
    assert not [m for m in texts if m.files], "charts are off"
    keys = Counter((m.metadata or {}).get("event_payload", {}).get("key") for m in texts)
    assert all(count == 1 for count in keys.values()), keys
    stored = {row.key: row.status for row in store.outbox()}
    assert set(keys) == set(stored), (keys, stored)
    assert len([m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]) == 3


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_three_schedulers_deliver_each_alert_once(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    Store.from_url(database_url).engine.dispose()  # schema first, like a `release` step
    processes = start_schedulers(stack, database_url, 3, tmp_path)
    store = Store(Store.from_url(database_url, migrate=False).engine)
    try:
        wait_until_all_sent(store, minimum=6, timeout=90)
        stop(processes)  # once they have exited, no straggler (a duplicate, if any) can land
        assert_exactly_once(stack, store)
    finally:
        stop(processes)
        store.engine.dispose()


def test_killing_schedulers_mid_cycle_loses_nothing(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    Store.from_url(database_url).engine.dispose()
    # A slow Slack (0.3 s a post, far longer than the database work between two posts): the
    # kills land mid-send.
    stack.slack.faults.add("chat.postMessage", delay=0.3, count=None)
    processes = start_schedulers(stack, database_url, 3, tmp_path)
    store = Store(Store.from_url(database_url, migrate=False).engine)
    try:
        wait_until_stored(store, minimum=6, timeout=60)  # every run's alerts are in the outbox
        assert stack.slack.wait_for(lambda: len(posted(stack)) >= 1, 60)
        processes[0].kill()
        assert stack.slack.wait_for(lambda: len(posted(stack)) >= 3, 60)
        processes[1].kill()
        wait_until_all_sent(store, minimum=6, timeout=120)
        stop(processes)
        assert_exactly_once(stack, store)
    finally:
        stack.slack.faults.clear()
        stop(processes)
        store.engine.dispose()
