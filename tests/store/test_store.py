"""The state store on SQLite, and on PostgreSQL when TEST_DATABASE_URL is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.models import Level, RunSummary, SeriesKey
from bot.posthog.metrics import ItemMetrics
from bot.store.store import RUNS_KEPT, Mute, OutgoingMessage, Store
from tests.support.factories import ids, make_cluster, make_metrics, make_run

T0 = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Store:
    store = Store.from_url(database_url)
    yield store
    store.engine.dispose()


def run_at(day: int, job_id: str = "job-1"):
    return make_run(
        make_cluster(0, item_ids=ids("a", 20), metrics=make_metrics()),
        make_cluster(-1, item_ids=ids("n", 3)),
        run_id=f"1_trace_202611{20 + day:02d}_001500_{job_id}",
        job_id=job_id,
        timestamp=T0 + timedelta(days=day),
    )


def test_runs_round_trip_exactly(store: Store) -> None:
    run = run_at(0)
    store.save_run(run)
    store.save_run(run)  # idempotent
    assert store.get_run(run.run_id) == run
    assert store.get_run("missing") is None
    assert store.get_summary(run.run_id) == run.summary
    assert store.get_summary("missing") is None


def test_a_run_read_again_is_parsed_once_and_never_read_stale(
    store: Store, database_url: str
) -> None:
    run = run_at(0)
    store.save_run(run)
    first = store.get_run(run.run_id)
    assert first is not None and store.get_run(run.run_id) is first  # shared, not parsed again
    assert store.previous_run(run_at(1)) is first
    # Another process stores the run again with its items' values: this store reads the new row
    other = Store.from_url(database_url, migrate=False)
    values = {i: ItemMetrics(cost=0.5, latency=1.0, tokens=100.0, errors=0) for i in ids("a", 20)}
    valued = run.with_item_values(values)
    other.save_run(valued)
    other.engine.dispose()
    again = store.get_run(run.run_id)
    assert again == valued and again != first
    assert all(i.has_values for i in again.clusters[0].items)


def test_the_store_keeps_only_the_runs_last_read(store: Store) -> None:
    runs = [run_at(day) for day in range(RUNS_KEPT + 1)]
    for run in runs:
        store.save_run(run)
    oldest = store.get_run(runs[0].run_id)
    for run in runs[1:]:
        store.get_run(run.run_id)  # the oldest is now the least recently read of too many
    assert len(store._runs) == RUNS_KEPT
    reread = store.get_run(runs[0].run_id)
    assert reread == oldest and reread is not oldest
    assert store.get_run(runs[-1].run_id) is store.get_run(runs[-1].run_id)


def test_previous_run_is_the_newest_earlier_run_of_the_same_series(store: Store) -> None:
    for day in (0, 1, 3):
        store.save_run(run_at(day))
    store.save_run(run_at(2, job_id="other-job"))
    newest = run_at(4)
    previous = store.previous_run(newest)
    assert previous is not None and previous.run_id == run_at(3).run_id
    assert store.previous_run(run_at(0)) is None


def test_record_run_alerts_is_atomic_and_idempotent(store: Store) -> None:
    run = run_at(1)
    series = SeriesKey(Level.TRACE, "job-1")
    assert store.series_cursor(series) is None
    messages = [
        OutgoingMessage("run:x", "parent", [{"type": "divider"}]),
        OutgoingMessage("cost_spike:x:1", "child", [], "run:x"),
    ]
    assert store.record_run_alerts(run, {"C1": messages, "C2": messages[:1]}) == 3
    assert store.series_cursor(series) == run.timestamp
    assert store.record_run_alerts(run, {"C1": messages}) == 0
    rows = store.outbox("C1")
    assert [(r.key, r.parent_key, r.status) for r in rows] == [
        ("run:x", None, "pending"),
        ("cost_spike:x:1", "run:x", "pending"),
    ]
    older = RunSummary.model_validate({**run.summary.model_dump(), "timestamp": T0})
    store.record_run_alerts(older, {})
    assert store.series_cursor(series) == run.timestamp  # never moves backwards


def test_claim_is_exclusive_and_sent_is_final(store: Store) -> None:
    store.record_run_alerts(run_at(1), {"C1": [OutgoingMessage("k", "t", [])]})
    (row,) = store.deliverable()
    assert store.claim(row.id, "a") is True
    assert store.claim(row.id, "b") is False
    assert store.mark_sent(row.id, "999.000", "b") is False  # only the holder records it
    assert store.mark_sent(row.id, "123.456", "a") is True
    assert store.deliverable() == []
    assert store.sent_ts("C1", "k") == "123.456"


def test_unsent_rows_fail_after_max_attempts(store: Store) -> None:
    store.record_run_alerts(run_at(1), {"C1": [OutgoingMessage("k", "t", [])]})
    (row,) = store.deliverable()
    status = ""
    for _ in range(20):
        if not store.claim(row.id, "a"):
            break
        status = store.mark_unsent(row.id, "not_in_channel", "a")
    assert status == "failed"
    assert store.outbox("C1")[0].attempts == 8


def test_leases_claims_and_give_up_follow_the_injected_clock(database_url: str) -> None:
    now = [T0]
    store = Store.from_url(database_url, clock=lambda: now[0])
    try:
        series = SeriesKey(Level.TRACE, "job-clock")
        assert store.acquire_series(series, "a", timedelta(minutes=5))
        assert not store.acquire_series(series, "b", timedelta(minutes=5))
        now[0] += timedelta(minutes=6)  # a's lease ran out on the store's clock
        assert store.acquire_series(series, "b", timedelta(minutes=5))

        store.record_run_alerts(run_at(1, "job-clock"), {"C1": [OutgoingMessage("k", "t", [])]})
        (row,) = store.deliverable()
        assert row.created_at == now[0]
        assert store.claim(row.id, "a")
        assert store.outbox("C1")[0].claimed_at == now[0]
        give_up = timedelta(hours=1)
        assert store.mark_unsent(row.id, "not_in_channel", "a", give_up_after=give_up) == "pending"
        now[0] += give_up
        assert store.claim(row.id, "a")
        assert store.mark_unsent(row.id, "not_in_channel", "a", give_up_after=give_up) == "failed"
        store.beat("scheduler")
        assert store.heartbeat("scheduler") == (now[0], "")
    finally:
        store.engine.dispose()


def test_claims_are_leases_only_their_holder_renews_or_settles(database_url: str) -> None:
    now = [T0]
    store = Store.from_url(database_url, clock=lambda: now[0])
    try:
        messages = [OutgoingMessage("k1", "t", []), OutgoingMessage("k2", "t", [])]
        store.record_run_alerts(run_at(1, "job-lease"), {"C1": messages})
        first, second = store.deliverable()
        assert store.claim(first.id, "a") and store.claim(second.id, "a")
        now[0] += timedelta(seconds=20)
        assert store.renew_claim(first.id, "a")
        assert not store.renew_claim(first.id, "b")
        assert store.outbox("C1")[0].claimed_at == now[0]
        assert store.reclaim(second.id, T0, "b")  # its lease was not renewed
        assert not store.reclaim(first.id, T0, "b")  # renewed: the swap fails
        assert not store.mark_ambiguous(second.id, "500", "a")
        assert store.mark_unsent(second.id, "ratelimited", "a", rate_limited=True) is None
        assert not store.give_up(second.id, "lost", "a")
        # A stopping "a" lets go of its rows except the one still in flight.
        assert store.release_claims("a", keep={first.id}) == 0
        assert store.release_claims("b") == 1
        assert [r.last_error for r in store.outbox("C1")] == [
            None,
            "released by a stopping sender",
        ]
    finally:
        store.engine.dispose()


def test_a_reply_whose_thread_is_gone_is_rehomed_by_its_holder_only(store: Store) -> None:
    early = "early:r0:3:error_heavy"
    messages = [OutgoingMessage("error_heavy:r1:3", "detail", [], early)]
    store.record_run_alerts(run_at(1, "job-rehome"), {"C1": messages})
    (row,) = store.deliverable()
    assert store.claim(row.id, "a")
    note = [{"type": "context", "elements": []}]
    assert not store.rehome(row.id, "b", "run:r1", "moved detail", note, "gone")  # not b's
    assert store.rehome(row.id, "a", "run:r1", "moved detail", note, "gone")
    (moved,) = store.outbox("C1")
    assert (moved.status, moved.parent_key, moved.text, moved.blocks) == (
        "pending",
        "run:r1",
        "moved detail",
        note,
    )
    assert (moved.attempts, moved.last_error) == (0, "gone")  # the attempt is given back
    assert not store.rehome(row.id, "a", "run:r2", "again", [], "gone")  # no longer claimed


def test_subscriptions_and_opt_out(store: Store) -> None:
    assert store.subscribe("C1", Level.TRACE, None, "U1") is True
    assert store.subscribe("C1", Level.TRACE, None, "U1") is False
    assert store.subscribe("C1", None, "Checkout", "U1") is True
    assert [(r.level, r.job) for r in store.subscriptions("C1")] == [
        ("trace", None),
        (None, "Checkout"),
    ]
    assert store.unsubscribe("C1", Level.TRACE, None, opt_out=False) == 1
    assert store.unsubscribe("C1", None, None, opt_out=True) == 1
    (marker,) = store.subscriptions("C1")
    assert marker.active is False
    assert store.subscribe("C1", None, None, "U1") is True  # subscribing again lifts the opt-out
    assert all(r.active for r in store.subscriptions("C1"))


def test_remove_subscriptions_removes_only_the_named_rows_of_that_channel(store: Store) -> None:
    for job in ("a", "b", "c"):
        store.subscribe("C1", Level.TRACE, job, "U1")
    store.subscribe("C2", Level.TRACE, "a", "U1")
    ids = {(r.channel, r.job): r.id for r in store.subscriptions()}
    assert store.remove_subscriptions("C1", [ids["C1", "a"], ids["C2", "a"]], opt_out=False) == 1
    assert [r.job for r in store.subscriptions("C1")] == ["b", "c"]
    assert [r.job for r in store.subscriptions("C2")] == ["a"]  # another channel's id: kept
    assert store.remove_subscriptions("C1", [ids["C1", "b"], ids["C1", "c"]], opt_out=True) == 2
    (marker,) = store.subscriptions("C1")  # the default channel emptied: opted out
    assert marker.active is False
    assert store.remove_subscriptions("C1", [marker.id], opt_out=True) == 0


def test_thresholds_per_channel(store: Store) -> None:
    assert store.thresholds("C1") == {}
    store.set_thresholds("C1", {"cost_spike_pct": "80"}, "U1")
    store.set_thresholds("C1", {"cost_spike_pct": "90", "min_items": "20"}, "U2")
    assert store.thresholds("C1") == {"cost_spike_pct": "90", "min_items": "20"}
    assert store.thresholds("C2") == {}


def test_mutes_expire_and_carry_to_a_newer_run(store: Store) -> None:
    now = T0
    series = SeriesKey(Level.TRACE, "job-1")
    store.mute(Mute("C1", "run-a", 3, "Refund questions", now + timedelta(hours=24), "U1"), series)
    assert [m.cluster_id for m in store.active_mutes("C1", now, "run-a")] == [3]
    assert store.active_mutes("C1", now + timedelta(hours=25)) == []
    newer = run_at(2)
    (original,) = store.active_mutes("C1", now, "run-a")
    until = now + timedelta(hours=24)
    carried = [Mute("C1", newer.run_id, 7, "Refunds", until, "U1", original.lineage)]
    store.carry_mutes("C1", newer, carried)
    store.carry_mutes("C1", newer, carried)  # idempotent
    assert [m.cluster_id for m in store.active_mutes("C1", now, newer.run_id)] == [7]
    assert store.unmute("C1", newer.run_id, 7) == 1  # one mute, lifted from both runs
    assert store.active_mutes("C1", now) == []


def test_unmute_is_one_runs_cluster_and_like_wildcards_are_literal(store: Store) -> None:
    series = SeriesKey(Level.TRACE, "job-1")
    until = T0 + timedelta(days=1)
    store.mute(Mute("C1", "run-a", 4, "100% errors", until, "U1"), series)
    store.mute(Mute("C1", "run-a", 5, "Other", until, "U1"), series)
    store.mute(Mute("C1", "run-b", 5, "Same id, another run", until, "U1"), series)
    assert store.unmute_titled("C1", "_%") == 0
    assert store.unmute("C1", "run-a", 5) == 1
    assert [m.title for m in store.active_mutes("C1", T0)] == [
        "100% errors",
        "Same id, another run",
    ]
    assert store.unmute_titled("C1", "100%") == 1


def test_outbox_counts_and_failures_group_the_rows(store: Store) -> None:
    messages = [OutgoingMessage(key, "t", []) for key in ("run:a", "run:b", "run:c", "run:d")]
    store.record_run_alerts(run_at(1), {"C1": messages})
    a, b, c, _ = store.deliverable()
    for row in (a, b, c):
        assert store.claim(row.id, "me")
    assert store.mark_sent(a.id, "1.000", "me")
    assert store.mark_unsent(b.id, "channel_not_found", "me", permanent=True) == "failed"
    assert store.give_up(c.id, "channel_not_found", "me")
    assert store.outbox_counts() == {"sent": 1, "failed": 2, "pending": 1}
    assert store.outbox_failures() == {"channel_not_found": 2}


def test_channel_presence_names_subscribed_tuned_and_muted_channels(store: Store) -> None:
    store.subscribe("C1", None, "job-1", "U1")
    store.unsubscribe("C2", None, None, opt_out=True)  # an opt-out marker, inactive
    store.set_thresholds("C3", {"min_items": "20"}, "U1")
    store.set_thresholds("C4", {}, "U1")  # nothing set: not tuned
    series = SeriesKey(Level.TRACE, "job-1")
    store.mute(Mute("C5", "run-a", 1, "Refunds", T0 + timedelta(hours=1), "U1"), series)
    store.mute(Mute("C6", "run-a", 1, "Refunds", T0 - timedelta(hours=1), "U1"), series)

    presence = store.channel_presence(T0)

    assert presence.subscribed == (("C1", True), ("C2", False))
    assert presence.tuned == ("C3",)
    assert presence.muted == ("C5",)
