"""Causes through a whole alert cycle: the planted cause is in the alert's thread detail and on
its parent line, and "Why?" on an alert answers in that thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import Cause, Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.alerting import STRONG
from tests.support.blocks import all_text
from tests.support.clock import NOW

JOB = "Default - traces"


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=5003,
        series=[SeriesSpec(level="trace", job_name=JOB, topics=8)],
        runs=2,
        items_per_run=1500,
        now=NOW,
        # Delivery tests plant changes too big to miss on their first run (tests/support/
        # alerting.py); how ordinary ones are caught is `make bench`'s to measure.
        planted={(JOB, 1): Plant(Change.ERROR_HEAVY, STRONG, Cause.RATE_LIMIT)},
    )


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("causes") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        worlds.load(running.posthog, world)
        running.services.alerts.run_cycle()
        yield running


def thread_replies(stack: Stack) -> list[Message]:
    return [
        reply
        for parent in stack.slack.messages(ALERT_CHANNEL)
        if not parent.ephemeral_for
        for reply in stack.slack.thread(ALERT_CHANNEL, parent.ts)
    ]


def test_rate_limits_are_named_in_the_thread_and_on_the_parent(stack: Stack) -> None:
    parents = [m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]
    assert len(parents) == 1
    assert "likely 429 RateLimitError" in all_text(parents[0])
    details = [m for m in thread_replies(stack) if "Likely cause" in all_text(m)]
    assert len(details) == 1
    text = all_text(details[0])
    assert "429 RateLimitError: Rate limit reached for requests" in text
    assert "/ai-observability/traces/" in text


def test_why_on_an_alert_answers_in_its_thread(stack: Stack) -> None:
    detail = next(m for m in thread_replies(stack) if "clusters.why" in str(m.blocks))
    assert detail.thread_ts is not None
    before = len(stack.slack.thread(ALERT_CHANNEL, detail.thread_ts))
    assert stack.user("U0WHY").click(detail, "clusters.why").status_code == 200
    thread = lambda: stack.slack.thread(ALERT_CHANNEL, detail.thread_ts)  # noqa: E731
    assert stack.slack.wait_for(lambda: len(thread()) > before, 20)
    assert "429 RateLimitError" in all_text(thread()[-1])
