"""Slack misbehaving while alerts go out: 429 storms, 5xx and dropped connections before and
after Slack acted, a storm that also breaks the recovery lookup, a channel that is gone, a
channel the bot is not in. Each alert reaches Slack exactly once, or is reported as failed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from slack_sdk.http_retry import builtin_handlers
from sqlalchemy import update

from bot.domain.models import Level, RunSummary
from bot.slack.errors import CHANNEL_GRACE
from bot.store.schema import OutboxRow
from bot.store.store import OutgoingMessage
from standins.stack import Stack
from standins.traffic.generator import World
from tests.support.faults import (
    QUIET,
    Bot,
    check_env,
    load,
    make_world,
    new_bot,
    reset_stand_ins,
    run_check,
    running_stack,
)

PLANTED_RUNS = 3


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("slack-faults") / "unused.db"
    with running_stack(database_url=f"sqlite:///{database}") as running:
        load(running, world)
        yield running


@pytest.fixture(autouse=True)
def clean(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # slack_sdk sleeps Retry-After plus up to 1 s of jitter per 429; the jitter goes, the
    # retries stay (like tests/conftest.py does for stamina).
    monkeypatch.setattr(builtin_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    reset_stand_ins(stack)
    yield
    reset_stand_ins(stack)


# The bots draw no trend charts: their uploads are a courtesy outside the exactly-once path
# (`assert_exactly_once` does not count them), queued after a parent is sent, and closing a bot
# waited over a second for matplotlib. The check (`run_check`) still draws them.
NO_CHARTS = {"charts": False}


@pytest.fixture
def bot(stack: Stack, tmp_path: Path) -> Iterator[Bot]:
    fresh = new_bot(stack, tmp_path, **NO_CHARTS)
    yield fresh
    fresh.close()


def posts(stack: Stack, channel: str) -> list[int | None]:
    return [
        c.status for c in stack.slack.calls_to("chat.postMessage") if c.params["channel"] == channel
    ]


# -- rate limits --------------------------------------------------------------------------------


def test_a_429_storm_is_waited_out_and_nothing_is_lost_or_doubled(bot: Bot, stack: Stack) -> None:
    stack.slack.faults.add("chat.postMessage", status=429, count=10, retry_after=0)
    report = bot.cycle()
    assert report.delivery.retrying >= 1 and report.delivery.failed == []
    # One send and its three short retries; then the drain leaves the channel alone.
    assert posts(stack, bot.channel).count(429) == 4
    bot.drain()
    bot.exactly_once(runs=PLANTED_RUNS)


def test_a_long_429_storm_loses_no_alert(bot: Bot, stack: Stack) -> None:
    """Regression: a 429 used to count as a delivery attempt, so rows rate limited through 8
    drains (MAX_ATTEMPTS, ~4 min at the 30 s drain interval) were marked failed, never sent."""
    stack.slack.faults.add("chat.postMessage", status=429, count=None, retry_after=0)
    bot.cycle()
    for _ in range(9):  # Slack keeps rate limiting for 9 drains
        bot.services.notifier.deliver()
    stack.slack.faults.clear()
    bot.drain()
    bot.exactly_once(runs=PLANTED_RUNS)


# -- server errors and dropped connections --------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "slack_acted"),
    [
        ({"status": 500}, False),
        ({"status": 503}, False),
        ({"status": 500, "after": True}, True),
        ({"drop_connection": True}, False),
        ({"drop_connection": True, "after": True}, True),
    ],
    ids=["500", "503", "500-after-posting", "reset", "reset-after-posting"],
)
@pytest.mark.parametrize("which", ["parent", "reply"])
def test_an_ambiguous_failure_is_resolved_without_a_duplicate(
    bot: Bot, stack: Stack, fault: dict[str, object], slack_acted: bool, which: str
) -> None:
    if which == "reply":
        stack.slack.faults.add("chat.postMessage", count=1)  # the first parent goes through
    stack.slack.faults.add("chat.postMessage", count=1, **fault)  # type: ignore[arg-type]
    report = bot.cycle()
    assert report.delivery.retrying >= 1 and report.delivery.failed == []
    later = bot.drain()
    assert sum(r.recovered for r in later) == (1 if slack_acted else 0)
    bot.exactly_once(runs=PLANTED_RUNS)


def test_when_the_recovery_lookup_fails_too_the_bot_never_guesses(bot: Bot, stack: Stack) -> None:
    """A 500 storm on every method: the post may have landed and the history cannot say."""
    stack.slack.faults.add("*", status=500, count=None, after=True)
    report = bot.cycle()
    assert report.delivery.sent == 0 and report.delivery.failed == []
    for _ in range(3):
        assert bot.services.notifier.deliver().sent == 0  # history down: nothing re-posted
    stack.slack.faults.clear()
    bot.drain()
    bot.exactly_once(runs=PLANTED_RUNS)


# -- channels ----------------------------------------------------------------------------------


def test_channel_not_found_is_retried_for_a_while_then_failed_and_reported(
    stack: Stack, tmp_path: Path
) -> None:
    gone = new_bot(stack, tmp_path, alert_channel="C0GONE", **NO_CHARTS)
    try:
        report = gone.cycle()
        assert report.delivery.failed == []
        assert report.delivery.waiting == ["C0GONE: channel_not_found"] * PLANTED_RUNS
        with gone.store.engine.begin() as connection:  # an hour later, still not invited
            connection.execute(
                update(OutboxRow).values(first_attempt_at=datetime.now(UTC) - CHANNEL_GRACE)
            )
        report = gone.services.notifier.deliver()
        channel_errors = [f for f in report.failed if f.endswith("channel_not_found")]
        assert channel_errors == ["C0GONE: channel_not_found"] * PLANTED_RUNS
        # Their thread replies are failed and reported with them, not left waiting.
        assert set(report.failed) - set(channel_errors) == {"C0GONE: its parent failed"}
        parents = [r for r in gone.store.outbox("C0GONE") if r.parent_key is None]
        assert [r.status for r in parents] == ["failed"] * PLANTED_RUNS
        attempts = len(stack.slack.calls_to("chat.postMessage"))
        gone.drain()
        assert len(stack.slack.calls_to("chat.postMessage")) == attempts  # no retry storm
        assert all(r.status != "sent" for r in gone.store.outbox())
    finally:
        gone.close()


def test_check_exits_1_and_names_the_channel_it_cannot_post_to(
    stack: Stack, tmp_path: Path
) -> None:
    env = check_env(stack, f"sqlite:///{tmp_path / 'cli.db'}", tmp_path) | QUIET
    env["ALERT_CHANNEL"] = "C0GONE"
    result = run_check(env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"waiting for a channel {PLANTED_RUNS}" in result.stdout
    assert "not delivered: C0GONE: channel_not_found" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_in_channel_waits_for_the_invite_then_posts_once(stack: Stack, tmp_path: Path) -> None:
    private = stack.slack.create_channel(
        "private-alerts", id="C0PRIVATE", member=False, private=True
    )
    invited = new_bot(stack, tmp_path, alert_channel=private, **NO_CHARTS)
    try:
        report = invited.cycle()
        assert report.delivery.sent == 0 and report.delivery.failed == []
        assert report.delivery.retrying == PLANTED_RUNS
        assert invited.parents() == []
        stack.slack.channels[private].is_member = True  # /invite @clusters-bot
        invited.drain()
        invited.exactly_once(runs=PLANTED_RUNS)
    finally:
        invited.close()


RUN = RunSummary(
    run_id="1_trace_20261127_001500_gone",
    level=Level.TRACE,
    job_id="gone",
    total_items=100,
    timestamp=datetime(2026, 11, 27, 0, 29, tzinfo=UTC),
)


def _section(text: str) -> list[dict[str, object]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def test_alerts_for_a_dead_channel_do_not_block_other_channels(bot: Bot) -> None:
    """Regression: replies of a parent that failed for good stayed `pending` forever and
    filled Store.deliverable(limit=200), so once 200 piled up no newer alert went out."""
    dead = [OutgoingMessage("run:dead", "parent", _section("parent"))]
    dead += [
        OutgoingMessage(f"cost_spike:dead:{i}", f"detail {i}", _section(f"d{i}"), "run:dead")
        for i in range(200)
    ]
    bot.store.record_run_alerts(RUN, {"C0GONE": dead})
    assert bot.services.notifier.deliver().waiting == ["C0GONE: channel_not_found"]
    with bot.store.engine.begin() as connection:  # an hour later, still not invited
        connection.execute(
            update(OutboxRow).values(first_attempt_at=datetime.now(UTC) - CHANNEL_GRACE)
        )
    report = bot.services.notifier.deliver()
    assert report.failed[0] == "C0GONE: channel_not_found"
    assert set(report.failed[1:]) == {"C0GONE: its parent failed"}
    bot.cycle()  # the real alerts of the three planted runs, for a channel that exists
    bot.drain()
    bot.exactly_once(runs=PLANTED_RUNS)
