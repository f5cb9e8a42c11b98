"""Exactly-once delivery through the outbox: real SQLite, the fake Slack, injected failures."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.slack.client import make_web_client
from bot.slack.errors import CHANNEL_GRACE
from bot.slack.notifier import SlackNotifier
from bot.slack.recovery import DEAD_SENDER_GRACE, MAX_RECOVERIES
from bot.store.schema import OutboxRow
from bot.store.store import OutgoingMessage, Store
from standins.slack.server import FakeSlack
from tests.support.outbox import RUN, section

CHANNEL = "C0ALERTS"
ANOTHER = "elsewhere:1:another"  # a sender in another process, on another host
MESSAGES = [
    OutgoingMessage("run:r1", "parent", section("parent")),
    OutgoingMessage("cost_spike:r1:3", "detail one", section("detail one"), "run:r1"),
    OutgoingMessage("new_cluster:r1:7", "detail two", section("detail two"), "run:r1"),
]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")


def notifier(slack: FakeSlack, store: Store, **kwargs: object) -> SlackNotifier:
    client = make_web_client(slack.bot_token, slack.api_url, interactive=False)
    return SlackNotifier(client, store, min_interval=0, **kwargs)  # type: ignore[arg-type]


def top_level(slack: FakeSlack) -> list:
    return [m for m in slack.messages(CHANNEL) if not m.ephemeral_for]


def assert_delivered_once(slack: FakeSlack, store: Store) -> None:
    (parent,) = top_level(slack)
    assert parent.text == "parent"
    assert [m.text for m in slack.thread(CHANNEL, parent.ts)] == ["detail one", "detail two"]
    assert all(row.status == "sent" and row.ts for row in store.outbox())
    assert store.sent_ts(CHANNEL, "run:r1") == parent.ts


def test_parent_then_replies_in_its_thread(slack: FakeSlack, store: Store) -> None:
    assert store.record_run_alerts(RUN, {CHANNEL: MESSAGES}) == 3
    report = notifier(slack, store).deliver()
    assert report.sent == 3 and not report.failed
    assert_delivered_once(slack, store)
    posted = slack.calls_to("chat.postMessage")
    assert all(call.params.get("unfurl_links") in (False, "false", "0") for call in posted)


def test_recording_the_same_run_twice_stores_nothing_twice(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    assert store.record_run_alerts(RUN, {CHANNEL: MESSAGES}) == 0
    notifier(slack, store).deliver()
    notifier(slack, store).deliver()
    assert_delivered_once(slack, store)


def test_restart_between_stored_and_sent_loses_nothing(
    slack: FakeSlack, store: Store, tmp_path: Path
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    # the process dies here; a new one opens the same database
    reopened = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    notifier(slack, reopened).deliver()
    assert_delivered_once(slack, reopened)


def test_crash_mid_send_is_recovered_without_a_duplicate(slack: FakeSlack, store: Store) -> None:
    """Claimed (`sending`) and posted, but the process died before marking it sent."""
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES[:1]})
    row = store.deliverable()[0]
    assert store.claim(row.id, ANOTHER)
    client = make_web_client(slack.bot_token, slack.api_url, interactive=False)
    client.chat_postMessage(
        channel=CHANNEL,
        text="parent",
        blocks=row.blocks,
        metadata={"event_type": "clusters_bot_message", "event_payload": {"key": row.key}},
    )
    report = notifier(slack, store, recover_after=timedelta(0)).deliver()
    assert report.recovered == 1 and report.sent == 0
    assert len(top_level(slack)) == 1


def test_crash_after_claim_before_post_sends_once(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    assert store.claim(store.deliverable()[0].id, ANOTHER)
    fresh = notifier(slack, store, recover_after=timedelta(0))
    fresh.deliver()
    assert_delivered_once(slack, store)


def test_a_fresh_claim_of_another_worker_is_left_alone(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES[:1]})
    assert store.claim(store.deliverable()[0].id, ANOTHER)
    report = notifier(slack, store).deliver()  # default: recover only after 30 s
    assert report.sent == 0 and top_level(slack) == []


@pytest.mark.parametrize("drop", [False, True])
def test_ambiguous_failure_after_slack_posted_is_not_posted_again(
    slack: FakeSlack, store: Store, drop: bool
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=500, after=True, drop_connection=drop)
    first = notifier(slack, store).deliver()
    assert first.retrying >= 1
    notifier(slack, store).deliver()
    assert_delivered_once(slack, store)


def test_5xx_before_posting_is_sent_on_the_next_drain(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=503, count=1)
    notifier(slack, store).deliver()
    notifier(slack, store).deliver()
    assert_delivered_once(slack, store)


def test_429_storm_is_waited_out_not_dropped(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=429, count=2, retry_after=0)
    report = notifier(slack, store).deliver()
    assert report.sent == 3
    assert_delivered_once(slack, store)
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses.count(429) == 2


def test_429_beyond_the_retry_handler_stays_pending(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=429, count=4, retry_after=0)
    report = notifier(slack, store).deliver()
    assert report.sent == 0 and report.retrying >= 1 and not report.failed
    notifier(slack, store).deliver()
    assert_delivered_once(slack, store)


def age_first_attempt(store: Store, channel: str, by: timedelta) -> None:
    """As if the row's first send attempt was `by` ago (the outbox reads the real clock)."""
    with store.engine.begin() as connection:
        connection.execute(
            update(OutboxRow)
            .where(OutboxRow.channel == channel)
            .values(first_attempt_at=datetime.now(UTC) - by)
        )


def test_channel_not_found_is_retried_for_an_hour_then_failed_and_reported(
    slack: FakeSlack, store: Store
) -> None:
    # Slack answers channel_not_found for a private channel the bot was not invited to yet.
    store.record_run_alerts(RUN, {"C0GONE": MESSAGES[:1]})
    first = notifier(slack, store).deliver()
    assert (first.failed, first.retrying) == ([], 1)
    assert store.outbox("C0GONE")[0].status == "pending"

    age_first_attempt(store, "C0GONE", CHANNEL_GRACE)
    later = notifier(slack, store).deliver()

    assert later.failed == ["C0GONE: channel_not_found"]
    assert store.outbox("C0GONE")[0].status == "failed"


@pytest.mark.parametrize("error", ["internal_error", "fatal_error"])
def test_ok_false_that_may_have_posted_is_looked_up_not_resent(
    slack: FakeSlack, store: Store, error: str
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES[:1]})
    slack.faults.add("chat.postMessage", error=error, after=True)  # stored, then ok: false

    first = notifier(slack, store).deliver()
    second = notifier(slack, store, recover_after=timedelta(0)).deliver()

    assert (first.sent, first.retrying) == (0, 1)
    assert second.recovered == 1
    assert [m.text for m in top_level(slack)] == ["parent"]


def test_the_recovery_lookup_searches_from_the_first_attempt_however_often_reclaimed(
    slack: FakeSlack, store: Store
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES[:1]})
    slack.faults.add("chat.postMessage", status=500, after=True)  # posted; the sender saw 500
    notifier(slack, store).deliver()
    slack.faults.add("conversations.history", status=500)  # the first lookup fails too
    notifier(slack, store, recover_after=timedelta(0)).deliver()
    with store.engine.begin() as connection:  # as if that reclaim came a minute after the post
        connection.execute(
            update(OutboxRow).values(claimed_at=datetime.now(UTC) + timedelta(minutes=1))
        )

    notifier(slack, store, recover_after=timedelta(0)).deliver()

    assert [m.text for m in top_level(slack)] == ["parent"]
    assert store.outbox(CHANNEL)[0].status == "sent"


def test_a_send_that_can_never_be_confirmed_ends_failed_and_reported(
    slack: FakeSlack, store: Store
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=500, after=True)
    slack.faults.add("conversations.history", status=500, count=None)  # lookups never work
    reports = [
        notifier(slack, store, recover_after=timedelta(0)).deliver()
        for _ in range(MAX_RECOVERIES + 1)
    ]

    failed = [f for r in reports for f in r.failed]
    assert failed[0].startswith(f"{CHANNEL}: delivery could not be confirmed")
    # Its replies are failed and reported too, not left waiting for a parent that never comes.
    assert failed[1:] == [f"{CHANNEL}: its parent failed"] * 2
    assert {row.status for row in store.outbox(CHANNEL)} == {"failed"}


def test_a_dead_senders_row_is_taken_over_once_its_last_request_is_over(
    slack: FakeSlack, tmp_path: Path
) -> None:
    now = [datetime(2026, 11, 27, 12, tzinfo=UTC)]
    store = Store.from_url(f"sqlite:///{tmp_path / 'dead.db'}", clock=lambda: now[0])
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES[:1]})
    (row,) = store.outbox(CHANNEL)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner = f"{socket.gethostname()}:{int(dead.stdout)}:deadbeef"
    assert store.claim(row.id, owner)  # claimed by a process that has since exited

    # Its last request may still be in Slack's hands: not yet.
    assert notifier(slack, store).deliver().sent == 0
    now[0] += DEAD_SENDER_GRACE
    report = notifier(slack, store).deliver()  # the lease (30 s) has not run out yet

    assert report.sent == 1
    assert [m.text for m in top_level(slack)] == ["parent"]


def test_not_in_channel_is_retried_until_the_bot_is_invited(slack: FakeSlack, store: Store) -> None:
    private = slack.create_channel("private", "C0PRIV", member=False)
    store.record_run_alerts(RUN, {private: MESSAGES[:1]})
    report = notifier(slack, store).deliver()
    assert report.retrying == 1 and store.outbox(private)[0].status == "pending"
    slack.channels[private].is_member = True
    notifier(slack, store).deliver()
    assert store.outbox(private)[0].status == "sent"


def test_replies_wait_for_their_parent(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", error="internal_error", count=1)  # parent refused once
    report = notifier(slack, store).deliver()
    assert report.sent == 0  # replies never go out without their thread
    notifier(slack, store).deliver()
    assert_delivered_once(slack, store)


def test_posts_are_paced_per_channel(slack: FakeSlack, tmp_path: Path) -> None:
    # A clock that stands still, as the fake sleep does not pass the time either: the waits
    # are exactly the booked slots, however slowly the machine runs.
    frozen = datetime(2026, 11, 27, 12, tzinfo=UTC)
    store = Store.from_url(f"sqlite:///{tmp_path / 'paced.db'}", clock=lambda: frozen)
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slept: list[float] = []
    client = make_web_client(slack.bot_token, slack.api_url, interactive=False)
    SlackNotifier(client, store, min_interval=1.0, sleep=slept.append).deliver()
    assert slept == [1.0, 2.0]  # slots a second apart, after the first post's own


def test_processes_posting_to_one_channel_share_its_pace(store: Store, tmp_path: Path) -> None:
    other_process = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")  # the same database
    interval = timedelta(seconds=1)

    waits = [store.reserve_slot(CHANNEL, interval), other_process.reserve_slot(CHANNEL, interval)]
    elsewhere = other_process.reserve_slot("C0OTHER", interval)

    assert waits[0] == 0.0 and 0.5 < waits[1] <= 1.0
    assert elsewhere == 0.0


def test_a_long_retry_after_is_not_waited_out_while_holding_the_claim(
    slack: FakeSlack, store: Store
) -> None:
    # Waiting 30 s inside the call would outlast the claim: another process could send it too.
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=429, retry_after=30)

    first = notifier(slack, store).deliver()

    assert len(slack.calls_to("chat.postMessage")) == 1  # no retry inside the call
    assert {row.status for row in store.outbox(CHANNEL)} == {"pending"}
    assert (first.sent, first.failed) == (0, [])
    second = notifier(slack, store).deliver()  # the next drain, once Slack allows it
    assert second.sent == 3
    assert_delivered_once(slack, store)


def test_a_short_retry_after_is_waited_out_within_the_drain(slack: FakeSlack, store: Store) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", status=429, retry_after=1)

    report = notifier(slack, store).deliver()

    assert report.sent == 3
    assert_delivered_once(slack, store)


def test_a_stopping_sender_releases_its_claims_for_an_immediate_lookup(
    slack: FakeSlack, store: Store
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES[:1]})
    stopping = notifier(slack, store)
    (row,) = store.outbox(CHANNEL)
    assert store.claim(row.id, stopping.owner)  # it was about to send when SIGTERM came

    assert stopping.stop(timeout=1) == (True, 1)
    report = notifier(slack, store).deliver()  # another process, recover_after 30 s

    assert report.sent == 1
    assert [m.text for m in top_level(slack)] == ["parent"]
    assert stopping.deliver().sent == 0  # a stopped sender sends nothing


def test_messages_that_failed_for_good_are_told_to_a_human_once_per_channel(
    slack: FakeSlack, store: Store
) -> None:
    # Slack refuses the parent (a permanent error): the channel itself gets one notice.
    store.record_run_alerts(RUN, {CHANNEL: MESSAGES})
    slack.faults.add("chat.postMessage", error="invalid_blocks")

    report = notifier(slack, store, notice_channel=CHANNEL).deliver()

    assert report.failed[0] == f"{CHANNEL}: invalid_blocks"
    (notice,) = top_level(slack)
    assert "3 alert message(s)" in notice.text and "invalid_blocks" in notice.text


def test_a_channel_the_bot_cannot_reach_is_reported_in_the_alert_channel(
    slack: FakeSlack, store: Store
) -> None:
    store.record_run_alerts(RUN, {"C0GONE": MESSAGES[:1]})
    notifier(slack, store, notice_channel=CHANNEL).deliver()
    age_first_attempt(store, "C0GONE", CHANNEL_GRACE)

    notifier(slack, store, notice_channel=CHANNEL).deliver()

    (notice,) = top_level(slack)
    assert "<#C0GONE>" in notice.text and "channel_not_found" in notice.text
