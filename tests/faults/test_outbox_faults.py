"""The outbox under faults that outlast a claim: a send slower than the lease, a sender frozen
while another takes over, two drains of one process, a stop with a send in flight, one channel
the bot cannot post to among live ones. Each alert reaches Slack exactly once, on SQLite and
PostgreSQL.

The fake Slack holds a request (`held_post`) for as long as a test needs; leases follow the
store's injected clock, so "a minute later" is a number, not a sleep. A kill during shutdown is
in test_shutdown_faults.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.slack.errors import CHANNEL_GRACE
from bot.store.store import OutgoingMessage, Store
from standins.slack.server import FakeSlack
from tests.support.faults import assert_exactly_once
from tests.support.outbox import LEASE, RUN, Clock, Drain, held_post, section, sender, wait_until

CHANNEL = "C0ALERTS"


def alerts(name: str, replies: int = 2) -> list[OutgoingMessage]:
    """A parent and its thread replies, keyed by `name`."""
    parent = OutgoingMessage(f"run:{name}", f"parent {name}", section(f"parent {name}"))
    return [parent] + [
        OutgoingMessage(f"detail:{name}:{i}", f"detail {i}", section(f"d{i}"), parent.key)
        for i in range(replies)
    ]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str, clock: Clock) -> Iterator[Store]:
    opened = Store.from_url(database_url, clock=clock)
    yield opened
    opened.engine.dispose()


def claimed_at(store: Store) -> datetime | None:
    return store.outbox(CHANNEL)[0].claimed_at


# -- a send slower than the lease -------------------------------------------------------------


def test_a_send_slower_than_the_lease_is_not_taken_over(
    slack: FakeSlack, store: Store, clock: Clock
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: alerts("a")})
    slow = sender(slack, store, renew_every=0.02)
    with held_post(slack) as hold:
        first = Drain(slow)
        first.start()
        assert hold.arrived.wait(30)
        clock.passes(LEASE + timedelta(seconds=5))  # Slack takes longer than the lease
        wait_until(lambda: claimed_at(store) == clock.now)  # the live sender renewed it

        other = sender(slack, store).deliver()  # another process's drain meanwhile

        hold.release.set()
        first.join(30)
    assert other.sent == other.recovered == 0
    assert first.report is not None and first.report.sent == 3
    assert_exactly_once(slack, store, CHANNEL, runs=1)


def test_a_sender_taken_over_while_it_waited_does_not_post(
    slack: FakeSlack, store: Store, clock: Clock
) -> None:
    """A sender frozen (no renewal) past its lease while it waits for the channel's slot: the
    other process takes over, finds nothing in Slack and posts; the frozen one, thawed, sees
    it lost the claim before posting and leaves the message alone."""
    store.record_run_alerts(RUN, {CHANNEL: alerts("a", replies=0)})
    store.reserve_slot(CHANNEL, timedelta(seconds=1))  # the channel's next slot is booked
    thawed, waiting = threading.Event(), threading.Event()

    def frozen_sleep(seconds: float) -> None:
        waiting.set()
        thawed.wait(30)

    frozen = sender(slack, store, min_interval=1.0, renew_every=3600, sleep=frozen_sleep)
    first = Drain(frozen)
    first.start()
    assert waiting.wait(30)
    clock.passes(LEASE)

    other = sender(slack, store).deliver()
    thawed.set()
    first.join(30)

    assert other.sent == 1
    assert first.report is not None
    assert (first.report.sent, first.report.claims_lost) == (0, 1)
    assert_exactly_once(slack, store, CHANNEL, runs=1)


# -- two drains of one process ----------------------------------------------------------------


class Entered:
    """A lock that counts who came to take it and who got it."""

    def __init__(self, lock: Any) -> None:
        self.lock, self.entered, self.acquired = lock, 0, 0

    def __enter__(self) -> Any:
        self.entered += 1
        taken = self.lock.__enter__()
        self.acquired += 1
        return taken

    def __exit__(self, *exc: object) -> Any:
        return self.lock.__exit__(*exc)


def test_the_two_drains_of_one_process_never_send_a_row_twice(
    slack: FakeSlack, store: Store, clock: Clock
) -> None:
    """The alert cycle and the retry job share one notifier; with no renewal at all (a lease
    that ran out), the second drain still must not take over the first one's send."""
    store.record_run_alerts(RUN, {CHANNEL: alerts("a")})
    process = sender(slack, store, renew_every=3600)
    draining = process._draining = Entered(process._draining)  # type: ignore[assignment]
    with held_post(slack) as hold:
        cycle = Drain(process)
        cycle.start()
        assert hold.arrived.wait(30)
        clock.passes(LEASE)
        job = Drain(process)
        job.start()
        # Before drains were serialised the job took the row over and posted it here; now it
        # waits for the cycle's drain to end.
        wait_until(
            lambda: (
                (draining.entered, draining.acquired) == (2, 1)  # the job waits its turn
                or len(slack.calls_to("chat.postMessage")) > 1
                or not job.is_alive()
            )
        )
        hold.release.set()
        cycle.join(30)
        job.join(30)
    assert_exactly_once(slack, store, CHANNEL, runs=1)


# -- stopping with a send in flight -----------------------------------------------------------


def test_a_stop_that_times_out_keeps_the_claim_of_the_send_in_flight(
    slack: FakeSlack, store: Store, clock: Clock
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: alerts("a")})
    stopping = sender(slack, store, renew_every=3600)
    with held_post(slack) as hold:
        drain = Drain(stopping)
        drain.start()
        assert hold.arrived.wait(30)

        stopped = stopping.stop(timeout=0.1)  # SIGTERM; the grace runs out before Slack answers
        clock.passes(timedelta(seconds=1))
        other = sender(slack, store).deliver()  # another replica, at once

        hold.release.set()
        drain.join(30)
    assert stopped == (False, 0)
    assert other.sent == other.recovered == 0
    assert drain.report is not None and drain.report.sent == 1  # the parent; then it stopped
    clock.passes(LEASE)
    sender(slack, store).deliver()  # the replies, by the next owner
    assert_exactly_once(slack, store, CHANNEL, runs=1)


def test_a_stop_waits_for_the_send_in_flight_then_hands_over_the_rest(
    slack: FakeSlack, store: Store
) -> None:
    store.record_run_alerts(RUN, {CHANNEL: alerts("a")})
    stopping = sender(slack, store)
    with held_post(slack) as hold:
        drain = Drain(stopping)
        drain.start()
        assert hold.arrived.wait(30)
        result: list[Any] = []
        stopper = threading.Thread(target=lambda: result.append(stopping.stop(timeout=30)))
        stopper.start()
        wait_until(stopping._stopping.is_set)  # SIGTERM arrived while Slack held the post
        hold.release.set()
        stopper.join(30)
        drain.join(30)
    assert result == [(True, 0)]  # waited for the send; nothing left to let go of
    assert drain.report is not None and drain.report.sent == 1
    assert stopping.deliver().sent == 0  # stopped: sends nothing more
    sender(slack, store).deliver()  # another replica sends the replies at once
    assert_exactly_once(slack, store, CHANNEL, runs=1)


# -- one dead channel among live ones ---------------------------------------------------------


@pytest.mark.parametrize("dead", ["channel_not_found", "not_in_channel"])
def test_a_dead_channel_does_not_hold_back_the_live_ones(
    slack: FakeSlack, store: Store, clock: Clock, dead: str
) -> None:
    gone = "C0GONE"
    if dead == "not_in_channel":  # a public channel the bot was removed from, and cannot join
        gone = slack.create_channel("left", "C0LEFT", member=False)
        slack.faults.add("conversations.join", error="restricted_action", count=None)
    live = [CHANNEL, "C0GENERAL", slack.create_channel("team", "C0TEAM")]
    # The dead channel's backlog is older than every live alert and bigger than one drain.
    store.record_run_alerts(RUN, {gone: [m for i in range(250) for m in alerts(f"g{i}", 0)]})
    for n, channel in enumerate(live):
        store.record_run_alerts(RUN, {channel: alerts(f"live{n}")})

    report = sender(slack, store).deliver()

    for channel in live:
        assert_exactly_once(slack, store, channel, runs=1)
    tried = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == gone]
    assert len(tried) == 1  # one try per drain, not one per message
    assert report.failed == [] and f"{gone}: {dead}" in report.waiting

    clock.passes(CHANNEL_GRACE)  # an hour on, still not invited
    store.record_run_alerts(RUN, {CHANNEL: alerts("later")})
    later = sender(slack, store).deliver()

    gone_rows = store.outbox(gone)
    assert {row.status for row in gone_rows} == {"failed"} and len(gone_rows) == 250
    assert later.failed == [f"{gone}: {dead}"] * 250
    tried = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == gone]
    assert len(tried) == 2  # one more try, then the whole backlog failed with it
    assert_exactly_once(slack, store, CHANNEL, runs=2)


def test_channels_take_turns(slack: FakeSlack, store: Store) -> None:
    """A backlog in one channel (paced at one message a second) does not hold back a newer
    alert for another channel until the backlog is out."""
    store.record_run_alerts(RUN, {CHANNEL: alerts("backlog", replies=5)})
    store.record_run_alerts(RUN, {"C0GENERAL": alerts("new", replies=0)})
    slept: list[float] = []
    sender(slack, store, min_interval=1.0, sleep=slept.append).deliver()
    order = [c.params["channel"] for c in slack.calls_to("chat.postMessage")]
    assert order[:2] == [CHANNEL, "C0GENERAL"]
    assert_exactly_once(slack, store, CHANNEL, runs=1)
    assert_exactly_once(slack, store, "C0GENERAL", runs=1)


def test_a_row_retried_after_a_refusal_is_not_taken_for_let_go(
    slack: FakeSlack, store: Store, clock: Clock
) -> None:
    """A row that failed once (here a 429 beyond the client's retries) keeps its error while it
    waits; claimed again, that old error must not read as "released" to another process."""
    store.record_run_alerts(RUN, {CHANNEL: alerts("a", replies=0)})
    slack.faults.add("chat.postMessage", status=429, count=4, retry_after=0)
    sender(slack, store).deliver()
    (row,) = store.outbox(CHANNEL)
    assert row.status == "pending" and row.last_error
    with held_post(slack) as hold:
        first = Drain(sender(slack, store, renew_every=3600))
        first.start()
        assert hold.arrived.wait(30)
        other = sender(slack, store).deliver()  # the lease is fresh: hands off
        hold.release.set()
        first.join(30)
    assert other.sent == other.recovered == 0
    assert_exactly_once(slack, store, CHANNEL, runs=1)


def test_rows_waiting_for_a_channel_start_their_grace_unsent(store: Store, clock: Clock) -> None:
    store.record_run_alerts(RUN, {"C0GONE": alerts("a", replies=0) + alerts("b", replies=0)})
    first, second = store.outbox("C0GONE")
    assert store.start_channel_grace("C0GONE") == 2
    assert store.wait_for_channel(first.id, "channel_not_found", CHANNEL_GRACE) == "pending"
    assert [row.first_attempt_at for row in store.outbox("C0GONE")] == [clock.now] * 2
    clock.passes(CHANNEL_GRACE)
    assert store.wait_for_channel(second.id, "channel_not_found", CHANNEL_GRACE) == "failed"
    assert store.outbox("C0GONE")[1].attempts == 0  # never sent


def test_a_big_backlog_goes_out_in_one_drain_trying_each_row_once(
    slack: FakeSlack, store: Store, clock: Clock
) -> None:
    """A drain takes more turns while a channel's full share got out, so a big run is not left
    for the next drain; a row it could not settle waits for the next drain, not the next turn."""
    store.record_run_alerts(RUN, {"C0GENERAL": alerts("doubt", replies=0)})
    slack.faults.add("chat.postMessage", status=500, after=True)  # posted; the sender saw 500
    sender(slack, store).deliver()
    slack.faults.add("conversations.history", status=500, count=None)  # lookups fail for now
    store.record_run_alerts(RUN, {CHANNEL: alerts("big", replies=120)})

    report = sender(slack, store).deliver()

    assert report.sent == 121
    (doubt,) = store.outbox("C0GENERAL")
    assert (doubt.status, doubt.recoveries) == ("sending", 1)
    slack.faults.clear()
    sender(slack, store).deliver()
    assert_exactly_once(slack, store, CHANNEL, runs=1)
    assert_exactly_once(slack, store, "C0GENERAL", runs=1)
