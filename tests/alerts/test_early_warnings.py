"""Early warnings between daily runs, driven hour by hour by an injected clock against the local
PostHog (summaries, embeddings and `$ai_*` events of a generated world) and a real SQLite store:
a mid-day error step in a large cluster is warned about within hours and confirmed by the next
run; a quiet world gets no warning, and a check with nothing new spends only the count; a
warning the next run does not bear out is retracted in its thread and edited."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.early import CHANNEL, Bot, running_bot
from bot.store.early import CONFIRMED, OPEN, RETRACTED
from bot.store.store import OutgoingMessage
from standins.posthog.embeddings import drop_embeddings
from standins.posthog.server import LocalPostHog
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


def start_bot(posthog: LocalPostHog, tmp_path: Path, first: datetime) -> Iterator[Bot]:
    with running_bot(posthog, tmp_path / "bot.db", first, dimension=DIM) as bot:
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
def changed_bot(changed: World, tmp_path: Path) -> Iterator[Bot]:
    for posthog in serve(changed):
        yield from start_bot(posthog, tmp_path, changed.runs[1].timestamp)


@pytest.fixture
def quiet_bot(quiet: World, tmp_path: Path) -> Iterator[Bot]:
    for posthog in serve(quiet):
        yield from start_bot(posthog, tmp_path, quiet.runs[1].timestamp)


def test_an_error_step_is_warned_early_and_confirmed_by_the_next_run(
    changed: World, changed_bot: Bot
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

    emit_newest_run(bot.posthog, changed)
    report = bot.check(following.timestamp + timedelta(minutes=10))

    assert (report.confirmed, report.retracted) == (1, 0)
    (warning,) = bot.warnings()
    assert warning.status == CONFIRMED and warning.settled_run_id == following.run_id
    replies = [m for m in bot.store.outbox(CHANNEL) if m.parent_key == warning.key]
    assert len(replies) == 1 and "Confirmed" in str(replies[0].blocks)
    assert replies[0].action == "post"

    again = bot.early.run_due()  # a restart or another tick: nothing is settled twice
    assert (again.confirmed, again.retracted, again.warnings) == (0, 0, 0)
    assert len([m for m in bot.store.outbox(CHANNEL) if m.parent_key == warning.key]) == 1


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


def test_a_warning_the_next_run_does_not_bear_out_is_retracted_and_edited(
    quiet: World, quiet_bot: Bot
) -> None:
    bot = quiet_bot
    run, following = quiet.runs[1], quiet.runs[2]
    bot.check(run.timestamp + timedelta(minutes=5))
    stored = bot.store.get_run(run.run_id)
    assert stored is not None
    cluster = stored.by_size[0]
    # A warning as a check would have stored it (the quiet world gives none by itself).
    key = f"early:{run.run_id}:{cluster.cluster_id}:cost_spike"
    payload: dict[str, object] = {"kind": "cost_spike", "title": cluster.title}
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "Early warning: cost"}}
    message = OutgoingMessage(key, "Early warning: cost", [section])
    added = bot.store.record_early_warnings(
        stored.summary, {CHANNEL: [(cluster.cluster_id, "cost_spike", payload, message)]}
    )
    assert added == 1
    assert (
        bot.store.record_early_warnings(
            stored.summary, {CHANNEL: [(cluster.cluster_id, "cost_spike", payload, message)]}
        )
        == 0
    )  # stored once

    before = bot.check(run.timestamp + timedelta(hours=3))
    assert before.retracted == 0  # the next run is not there yet

    emit_newest_run(bot.posthog, quiet)
    report = bot.check(following.timestamp + timedelta(minutes=10))

    assert (report.confirmed, report.retracted) == (0, 1)
    (warning,) = bot.warnings()
    assert warning.status == RETRACTED and warning.settled_run_id == following.run_id
    thread = [m for m in bot.store.outbox(CHANNEL) if m.parent_key == key]
    note = next(m for m in thread if m.action == "post")
    edit = next(m for m in thread if m.action == "update")
    assert "Retracted" in note.text and "not confirmed" in str(note.blocks)
    assert "Retracted" in edit.text
    assert edit.blocks[0] == section  # the warning as posted, then the line
    assert "not confirmed" in str(edit.blocks[-1])


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
