"""Acks under load: twenty people ask at once while PostHog is slow, and every one of them gets
Slack's 200 in time (Bolt answers 404 to Slack when a listener has not acked within 3 s); past
the queue limit the ack itself says the bot is busy."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from bot.app import create_app
from bot.listeners.deferred import BUSY_MESSAGE
from bot.work import WorkPool
from standins.stack import Stack
from tests.support.bolt import dispatch_command

CONCURRENT = 20


def test_twenty_slow_commands_at_once_are_all_acked(stack: Stack) -> None:
    stack.posthog.faults.add(200, count=10_000, delay=1.0)  # every query takes 1 s
    users = [stack.user(f"U0LOAD{i:02d}") for i in range(CONCURRENT)]
    start = threading.Barrier(CONCURRENT)
    results: list[tuple[int, float]] = [(0, 0.0)] * CONCURRENT

    def ask(i: int) -> None:
        start.wait()
        began = time.monotonic()
        status = users[i].command("top cost").status_code
        results[i] = (status, time.monotonic() - began)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("ack seconds:", sorted(round(seconds, 2) for _, seconds in results))
    assert [status for status, _ in results] == [200] * CONCURRENT

    def answered(user_id: str) -> bool:
        return any(m.ephemeral_for == user_id for m in stack.slack.messages("C0GENERAL"))

    assert stack.slack.wait_for(lambda: all(answered(u.user_id) for u in users), 180)
    stack.posthog.faults.clear()


class GatedClusters:
    """The real ClustersService, but `jobs()` waits until the test opens the gate."""

    def __init__(self, real: Any) -> None:
        self.real, self.gate, self.entered = real, threading.Event(), threading.Event()

    def jobs(self) -> Any:
        self.entered.set()
        assert self.gate.wait(30)
        return self.real.jobs()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_past_the_queue_limit_the_ack_says_busy(stack: Stack) -> None:
    gated = GatedClusters(stack.services.clusters)
    pool = WorkPool(workers=1, queue_limit=0)
    services = dataclasses.replace(stack.services, clusters=gated, work=pool)
    app = create_app(services)
    first, second = stack.user("U0BUSY1"), stack.user("U0BUSY2")
    try:
        response = dispatch_command(app, first, "jobs")
        assert response.status == 200 and BUSY_MESSAGE not in response.body
        assert gated.entered.wait(20)  # the only worker is now busy with the first question
        busy = dispatch_command(app, second, "jobs")
        assert busy.status == 200 and BUSY_MESSAGE in busy.body
    finally:
        gated.gate.set()
        assert pool.close(timeout=30)
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0BUSY1" for m in stack.slack.messages("C0GENERAL")), 20
    )
    assert "clusters_bot_busy_replies_total 1.0" in stack.services.metrics.render().decode()


def test_no_auth_test_before_the_ack_and_no_bolt_warning_at_start(
    stack: Stack, caplog: Any
) -> None:
    with caplog.at_level("WARNING"):
        app = create_app(stack.services)  # a fresh app: Bolt has no auth.test result cached
    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []
    before = len(stack.slack.calls_to("auth.test"))
    assert dispatch_command(app, stack.user("U0NOAUTH"), "help").status == 200
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0NOAUTH" for m in stack.slack.messages("C0GENERAL")), 20
    )
    assert len(stack.slack.calls_to("auth.test")) == before
