"""Helpers of the outbox fault tests: a fake Slack that holds a request for exactly as long as
a test needs (a slow Slack without sleeping for it), a clock to inject into the store, and
senders as separate processes would have them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.models import Level, RunSummary
from bot.slack.client import make_web_client
from bot.slack.notifier import DeliveryReport, SlackNotifier
from bot.store.store import Store
from standins.slack.server import FakeSlack

# The run an outbox test's messages belong to, and a message's one section.
RUN = RunSummary(
    run_id="1_trace_20261127_001500_job",
    level=Level.TRACE,
    job_id="job",
    total_items=100,
    timestamp=datetime(2026, 11, 27, 0, 29, tzinfo=UTC),
)


def section(text: str) -> list[dict[str, object]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


LEASE = timedelta(seconds=30)
T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)


@dataclass
class Hold:
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def held_post(slack: FakeSlack, *, skip: int = 0) -> Iterator[Hold]:
    """The next chat.postMessage (after `skip` more) is held by the fake Slack (the request in
    its hands, no answer yet) until `release` is set, then carried out: a slow Slack, for
    exactly as long as the test needs."""
    hold, lock, posts = Hold(), threading.Lock(), []
    take = slack.faults.take

    def taking(method: str) -> Any:
        with lock:
            first = method == "chat.postMessage" and len(posts) == skip
            if method == "chat.postMessage":
                posts.append(method)
        if first:
            hold.arrived.set()
            hold.release.wait(60)
        return take(method)

    slack.faults.take = taking  # type: ignore[method-assign]
    try:
        yield hold
    finally:
        hold.release.set()
        del slack.faults.take


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def passes(self, delta: timedelta) -> None:
        self.now += delta


def sender(slack: FakeSlack, store: Store, **kwargs: Any) -> SlackNotifier:
    """One sending process's notifier (its own owner id), on the shared database."""
    client = make_web_client(slack.bot_token, slack.api_url, interactive=False)
    kwargs.setdefault("min_interval", 0)
    kwargs.setdefault("recover_after", LEASE)
    return SlackNotifier(client, store, **kwargs)


class Drain(threading.Thread):
    """`notifier.deliver()` in a thread of its own; `report` once joined."""

    def __init__(self, notifier: SlackNotifier) -> None:
        super().__init__(daemon=True)
        self.notifier = notifier
        self.report: DeliveryReport | None = None

    def run(self) -> None:
        self.report = self.notifier.deliver()


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("timed out")
