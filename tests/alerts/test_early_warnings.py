"""Early warnings between daily runs, driven hour by hour by an injected clock against the local
PostHog (summaries, embeddings and `$ai_*` events of a generated world), a real SQLite store and
the fake Slack: a mid-day error step in a large cluster is warned about within hours, confirmed
by the next run, and its thread is then the daily alert's home (the alert's detail and each later
run's follow-up there, posted once across a restart); a quiet world gets no warning, and a check
with nothing new spends only the count; a warning the next run does not bear out is retracted in
its thread and edited, and changes nothing of the daily alerts."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.early import CHANNEL, Bot, running_bot
from bot.domain.alerts import AlertKind
from bot.domain.lifecycle import Phase
from bot.store.early import CONFIRMED, OPEN, RETRACTED, UNDECIDED
from bot.store.keys import (
    AlertKey,
    EarlyOutcomeKey,
    EarlyWarningKey,
    EpisodeNoteKey,
    RunKey,
    parse_key,
)
from bot.store.store import OutgoingMessage
from standins.posthog.embeddings import drop_embeddings
from standins.posthog.server import LocalPostHog
from standins.slack.model import Message
from standins.slack.server import FakeSlack
from standins.traffic.embeddings import model_name_for
from standins.traffic.generator import Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.clock import NOW

DIM = 48
MODEL = model_name_for(DIM)
SPEC = SeriesSpec(level="trace", job_name="Default - traces", topics=8)
# Seed 1 puts the step on a cluster of 28 % of the run, about 11.5 hours after its window end.
SEED = 1


def make_world(*, change: bool) -> World:
    planted = {(SPEC.job_name, 2): Plant(Change.ERROR_HEAVY)} if change else {}
    return worlds.generate(
        seed=SEED,
        series=[SPEC],
        now=NOW,
        runs=3,
        items_per_run=1500,
        traces_per_day=700.0,
        planted=planted,
        change_start=(0.3, 0.5),
    )


def start_bot(
    posthog: LocalPostHog, tmp_path: Path, first: datetime, slack: FakeSlack | None = None
) -> Iterator[Bot]:
    with running_bot(posthog, tmp_path / "bot.db", first, dimension=DIM, slack=slack) as bot:
        yield bot


def serve(world: World) -> Iterator[LocalPostHog]:
    """The world in a local PostHog, without the newest run's event (it is emitted later)."""
    newest = world.runs[-1].event["uuid"]
    with LocalPostHog(project_id=3, api_key="phx_test") as server:
        worlds.load(server, world, leave_out={newest})
        worlds.load_summaries(server, world, dimension=DIM)
        yield server


def emit_newest_run(posthog: LocalPostHog, world: World) -> None:
    posthog.insert_events([world.runs[-1].event])
    posthog.cache.clear()


def hours(start: datetime, end: datetime, step: int = 2) -> Iterator[datetime]:
    """Every `step` hours from `start` up to `end` (the checks are hourly; every second hour
    of them proves the same at half the queries)."""
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(hours=step)


@pytest.fixture(scope="module")
def changed() -> World:
    return make_world(change=True)


@pytest.fixture(scope="module")
def quiet() -> World:
    return make_world(change=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def changed_bot(changed: World, tmp_path: Path, slack: FakeSlack) -> Iterator[Bot]:
    for posthog in serve(changed):
        yield from start_bot(posthog, tmp_path, changed.runs[1].timestamp, slack)


def key_of(message: Message) -> str:
    return str((message.metadata or {}).get("event_payload", {}).get("key"))


def posted(slack: FakeSlack) -> list[tuple[str, Message]]:
    """(outbox key, message) of every message the bot posted, replies after their parent."""
    found = []
    for message in slack.messages(CHANNEL):
        found.append((key_of(message), message))
        found += [(key_of(reply), reply) for reply in slack.thread(CHANNEL, message.ts)]
    return found


@pytest.fixture
def quiet_bot(quiet: World, tmp_path: Path) -> Iterator[Bot]:
    for posthog in serve(quiet):
        yield from start_bot(posthog, tmp_path, quiet.runs[1].timestamp)


def test_an_error_step_is_warned_early_and_its_thread_is_the_daily_alert_s_home(
    changed: World, changed_bot: Bot, slack: FakeSlack
) -> None:
    bot = changed_bot
    planted = changed.planted[0]
    run, following = changed.runs[1], changed.runs[2]
    start = run.timestamp + timedelta(minutes=5)
    first_warning: datetime | None = None
    for moment in hours(start, following.timestamp):
        report = bot.check(moment)
        assert report.queries <= 2  # the count, and one check of the one series
        if report.warnings and first_warning is None:
            first_warning = moment
            bot.early = replace(bot.early, owner="restarted")  # a restart: a new service
    assert first_warning is not None, "no early warning before the next run"
    delay = (first_warning - planted.start) / timedelta(hours=1)
    assert 0 < delay <= 6, delay
    (warning,) = bot.warnings()
    assert (warning.cluster_id, warning.kind) == (planted.previous_cluster_id, "error_heavy")
    assert warning.status == OPEN
    (message,) = [m for m in bot.store.outbox(CHANNEL) if m.key == warning.key]
    assert "Early warning" in message.text
    assert "new items of the last" in str(message.blocks)
    (top,) = [m for k, m in posted(slack) if k == warning.key]
    assert top.thread_ts is None  # the warning is a message of the channel
    # A cost warning on the same cluster, as a check would have stored it: the run retracts it.
    cost_key = EarlyWarningKey(run.run_id, warning.cluster_id, AlertKind.COST_SPIKE).encode()
    cost = OutgoingMessage(cost_key, "Early warning: cost", [])
    stored = bot.store.get_run(run.run_id)
    assert stored is not None
    bot.store.record_early_warnings(
        stored.summary, {CHANNEL: [(warning.cluster_id, "cost_spike", {}, cost)]}
    )

    # The next run is processed by a check that runs the early warnings first, and dies before
    # delivering anything.
    notifier = bot.alerts.notifier
    bot.alerts.notifier = None
    bot.early = replace(bot.early, notifier=None)
    emit_newest_run(bot.posthog, changed)
    report = bot.check(following.timestamp + timedelta(minutes=10), early_first=True)

    assert bot.cycle is not None
    assert (bot.cycle.early_confirmed, bot.cycle.early_retracted) == (1, 1)
    assert (report.confirmed, report.retracted) == (0, 0)  # before the run: nothing to settle
    confirmed, retracted = bot.warnings()
    assert confirmed.status == CONFIRMED and confirmed.settled_run_id == following.run_id
    assert retracted.status == RETRACTED and retracted.settled_run_id == following.run_id
    stored = [m for m in bot.store.outbox(CHANNEL) if m.parent_key == warning.key]
    thread = [m for m in stored if m.action == "post"]
    note, detail = [parse_key(m.key) for m in thread]  # the confirmation, then the alert
    (edit,) = [m for m in stored if m.action == "update"]  # and the warning says so
    assert "Confirmed by" in str(edit.blocks) and "Early warning" in edit.text
    assert note == EarlyOutcomeKey(CONFIRMED, EarlyWarningKey.parse(warning.key))
    assert isinstance(detail, AlertKey) and detail.run_id == following.run_id
    assert "Confirmed" in str(thread[0].blocks)
    assert not [k for k, _ in posted(slack) if k != warning.key]  # nothing else out yet

    # Restarted: the stored messages go out, once.
    bot.alerts.notifier = notifier
    bot.alerts.owner = "restarted"
    bot.early = replace(bot.early, notifier=notifier, owner="restarted again")
    again = bot.check(following.timestamp + timedelta(minutes=20))
    assert (again.confirmed, again.retracted, again.warnings) == (0, 0, 0)
    bot.check(following.timestamp + timedelta(minutes=30))  # and again: nothing new

    out = posted(slack)
    counts = Counter(k for k, _ in out)
    assert counts and max(counts.values()) == 1  # every message once
    rows = bot.store.outbox(CHANNEL)
    assert {k for k, _ in out} == {m.key for m in rows if m.action == "post"}
    assert {m.status for m in rows} == {"sent"}  # the retracted warning's edit too
    by_key = dict(out)
    assert [m.thread_ts for m in (by_key[note.encode()], by_key[detail.encode()])] == [
        top.ts,
        top.ts,
    ]
    assert [key_of(m) for m in slack.thread(CHANNEL, top.ts)] == [note.encode(), detail.encode()]
    (top,) = [m for k, m in out if k == warning.key]
    assert top.edited and "Confirmed by" in str(top.blocks)  # seen without opening the thread
    daily = by_key[RunKey(following.run_id).encode()]
    assert daily.thread_ts is None and "first warned early" in str(daily.blocks)
    in_run_thread = [parse_key(key_of(m)) for m in slack.thread(CHANNEL, daily.ts)]
    same = [  # no second thread for the same change
        k
        for k in in_run_thread
        if isinstance(k, AlertKey)
        and k.cluster_id == detail.cluster_id
        and k.kind.family is detail.kind.family
    ]
    assert same == []
    cost_thread = [key_of(m) for m in slack.thread(CHANNEL, by_key[cost_key].ts)]
    assert [parse_key(k) for k in cost_thread] == [
        EarlyOutcomeKey(RETRACTED, EarlyWarningKey.parse(cost_key))
    ]  # the retracted warning holds only its note: no alert moved there

    # The run after: the change's follow-up lands in the same thread.
    later = worlds.emit_next_run(
        changed, job_name=SPEC.job_name, now=following.timestamp + timedelta(days=1, hours=1)
    )
    bot.posthog.insert_events(later.added_events)
    bot.posthog.cache.clear()
    bot.check(later.runs[-1].timestamp + timedelta(minutes=10))
    assert bot.cycle is not None and later.runs[-1].run_id in bot.cycle.runs_processed
    replies = slack.thread(CHANNEL, top.ts)
    followups = [parse_key(key_of(m)) for m in replies[2:]]
    assert followups, "no follow-up in the warning's thread"
    first = followups[0]
    assert isinstance(first, EpisodeNoteKey) and first.alert == detail
    assert first.phase in (Phase.STILL, Phase.RESOLVED)
    assert first.run_id == later.runs[-1].run_id
    news = [k for k, m in posted(slack) if isinstance(parse_key(k), EpisodeNoteKey)]
    assert news == [first.encode()]  # nowhere else


def test_a_quiet_world_gets_no_warning_and_nothing_new_costs_only_the_count(
    quiet: World, quiet_bot: Bot
) -> None:
    bot = quiet_bot
    run, following = quiet.runs[1], quiet.runs[2]
    start = run.timestamp + timedelta(minutes=5)
    reports = [bot.check(m) for m in hours(start, following.timestamp)]
    assert sum(r.warnings for r in reports) == 0
    # Summaries arrive every hour: each check but the first, minutes after the run, finds some.
    assert sum(r.series_checked for r in reports) >= len(reports) - 2 >= 10
    assert all(r.queries <= 2 for r in reports)
    assert bot.warnings() == []

    # The same hour again: not due, no query at all.
    last = bot.moment[0]
    spent = bot.client.budget.spent
    assert bot.early.run_due().series_due == 0
    assert bot.client.budget.spent == spent
    # The world's summaries end with the next run's window: past it, a check finds the last
    # ones, and the check an hour later finds nothing newer and spends only the count.
    bot.early.clock = lambda: last + timedelta(hours=3)
    bot.early.run_due()
    bot.early.clock = lambda: last + timedelta(hours=4, minutes=1)
    report = bot.early.run_due()
    assert (report.series_due, report.series_quiet, report.queries) == (1, 1, 1)
    assert report.series_checked == 0


@pytest.mark.parametrize(
    ("kind", "hours_before_the_run", "status", "words"),
    [
        # a rise of cost over the whole day: the quiet run's own items of the cluster rule it out
        ("cost_spike", None, RETRACTED, ("Retracted", "rules it out", "ruled out by")),
        # errors since an hour before the run: it holds too few of those items to tell
        ("error_heavy", 1, UNDECIDED, ("Not confirmed", "not ruled out", "not ruled out")),
    ],
)
def test_a_warning_the_next_run_does_not_bear_out_is_retracted_or_left_unconfirmed(
    quiet: World,
    quiet_bot: Bot,
    kind: str,
    hours_before_the_run: int | None,
    status: str,
    words: tuple[str, str, str],
) -> None:
    bot = quiet_bot
    run, following = quiet.runs[1], quiet.runs[2]
    bot.check(run.timestamp + timedelta(minutes=5))
    stored = bot.store.get_run(run.run_id)
    assert stored is not None
    cluster = stored.by_size[0]
    # A warning as a check would have stored it (the quiet world gives none by itself).
    key = f"early:{run.run_id}:{cluster.cluster_id}:{kind}"
    payload: dict[str, object] = {"kind": kind, "title": cluster.title, "before": 0.02}
    if hours_before_the_run is not None:
        start = following.window_end - timedelta(hours=hours_before_the_run)
        payload["start"] = start.isoformat()
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "Early warning"}}
    message = OutgoingMessage(key, "Early warning", [section])
    added = bot.store.record_early_warnings(
        stored.summary, {CHANNEL: [(cluster.cluster_id, kind, payload, message)]}
    )
    assert added == 1
    assert (
        bot.store.record_early_warnings(
            stored.summary, {CHANNEL: [(cluster.cluster_id, kind, payload, message)]}
        )
        == 0
    )  # stored once

    before = bot.check(run.timestamp + timedelta(hours=3))
    assert before.retracted == 0  # the next run is not there yet

    emit_newest_run(bot.posthog, quiet)
    report = bot.check(following.timestamp + timedelta(minutes=10))

    assert bot.cycle is not None  # settled with the run, by the alert cycle
    cycle = bot.cycle
    settled = (cycle.early_confirmed, cycle.early_retracted, cycle.early_undecided)
    assert settled == (0, int(status == RETRACTED), int(status == UNDECIDED))
    assert (report.confirmed, report.retracted, report.undecided) == (0, 0, 0)
    (warning,) = bot.warnings()
    assert warning.status == status and warning.settled_run_id == following.run_id
    thread = [m for m in bot.store.outbox(CHANNEL) if m.parent_key == key]
    assert len(thread) == 2  # the note and the edit: no daily alert moved there
    note = next(m for m in thread if m.action == "post")
    edit = next(m for m in thread if m.action == "update")
    assert words[0] in note.text and words[1] in str(note.blocks)
    assert edit.text.startswith(words[0])
    assert edit.blocks[0] == section  # the warning as posted, then the line
    assert words[2] in str(edit.blocks[-1])


def test_without_embeddings_the_checks_say_so_once_and_pause(
    quiet: World, quiet_bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = quiet_bot
    run = quiet.runs[1]
    caplog.set_level(logging.WARNING, logger="bot.services.early")
    drop_embeddings(bot.posthog.store)
    bot.posthog.cache.clear()
    first = bot.check(run.timestamp + timedelta(hours=3))
    assert (first.series_due, first.series_checked, first.warnings) == (1, 0, 0)
    assert first.queries == 2  # the count, and the check that found no embeddings
    later = [bot.check(run.timestamp + timedelta(hours=h)) for h in (4, 5)]
    assert [r.queries for r in later] == [0, 0]  # paused: nothing is asked
    said = [r for r in caplog.records if r.getMessage() == "early.check.unavailable"]
    assert len(said) == 1 and getattr(said[0], "reason", None) == "missing"
