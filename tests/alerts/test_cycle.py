"""Alert cycles end to end: local PostHog with planted changes, fake Slack, real SQLite.

One stack per module: a test that changes the bot's state has a bot of its own on it (its own
database and alert channel), and the local PostHog is loaded again after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.domain.models import Level
from bot.domain.rules import AlertKind
from bot.posthog import queries
from bot.posthog.embeddings import assignment_query
from bot.services.alerts import CycleReport
from bot.store.keys import AlertKey, parse_key
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import Change, Plant, World
from tests.support.alerting import STRONG, load, make_world, parents
from tests.support.blocks import all_text
from tests.support.clock import NOW
from tests.support.faults import Bot, new_bot
from tests.support.worlds import emit_next_run

UI = "/project/1/ai-observability"
ASSIGNMENT_QUERIES = {assignment_query(Level.TRACE), assignment_query(Level.GENERATION)}
KIND = {
    Change.COST_SPIKE: AlertKind.COST_SPIKE,
    Change.LATENCY_SPIKE: AlertKind.LATENCY_SPIKE,
    Change.ERROR_HEAVY: AlertKind.ERROR_HEAVY,
    Change.SIZE_SHIFT: AlertKind.SIZE_SHIFT,
    Change.VANISHED_CLUSTER: AlertKind.TRAFFIC_STOPPED,  # the topic stops
}


@dataclass(frozen=True)
class FirstCycle:
    stack: Stack
    world: World
    report: CycleReport
    queries: list[str]  # the HogQL the first cycle sent, in order


@pytest.fixture(scope="module")
def first_cycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstCycle]:
    """One first cycle over the planted world on a fresh stack, for the tests that only read it
    or add a cycle that changes nothing."""
    database = tmp_path_factory.mktemp("first_cycle") / "bot.db"
    with Stack(database_url=f"sqlite:///{database}") as running:
        world = make_world()
        load(running, world)
        report = running.services.alerts.run_cycle()
        yield FirstCycle(running, world, report, list(running.posthog.hogql_log))


@pytest.fixture
def bot(first_cycle: FirstCycle, tmp_path: Path) -> Iterator[Bot]:
    """A bot of its own (a fresh SQLite file and alert channel: its own first cycle) on the
    module's stand-ins, whose PostHog holds the planted world alone again afterwards (a test
    may add a run to it)."""
    stack = first_cycle.stack
    fresh = new_bot(stack, tmp_path)
    try:
        yield fresh
    finally:
        fresh.close()
        if stack.posthog.event_count() != len(first_cycle.world.events):
            stack.posthog.reset()
            load(stack, first_cycle.world)


def test_first_cycle_alerts_each_planted_change_once_with_links(first_cycle: FirstCycle) -> None:
    stack, world, report = first_cycle.stack, first_cycle.world, first_cycle.report
    # First sight of three series: each newest run is compared with the run before it only.
    assert len(report.runs_processed) == 3
    posted = parents(stack)
    assert len(posted) == 3
    for planted in world.planted:
        parent = next(m for m in posted if planted.run_id in all_text(m))
        thread = stack.slack.thread(ALERT_CHANNEL, parent.ts)
        assert thread, "details go into the parent's thread"
        cluster_id = (
            planted.cluster_id if planted.cluster_id is not None else planted.previous_cluster_id
        )
        run_id = planted.run_id if planted.cluster_id is not None else planted.previous_run_id
        cluster_url = f"{UI}/clusters/{run_id}/{cluster_id}"
        assert cluster_url in all_text(parent), planted
        # The planted error storm is told once (another kind of alert on the same cluster is
        # a separate change; how often those are false is `make bench`'s to measure).
        details = [m for m in thread if cluster_url in all_text(m) and "Error rate" in m.text]
        assert len(details) == 1, planted
        assert {"clusters.traces", "clusters.mute.24", "clusters.open"} <= {
            e["action_id"]
            for b in details[0].blocks
            if b["type"] == "actions"
            for e in b["elements"]
        }
        assert planted.previous_run_id in all_text(details[0])  # the baseline is named
    rows = stack.services.store.outbox(ALERT_CHANNEL)
    assert rows and all(row.status == "sent" and row.ts for row in rows)


def test_second_cycle_posts_nothing_and_costs_one_query(first_cycle: FirstCycle) -> None:
    stack = first_cycle.stack
    messages = len(stack.slack.calls_to("chat.postMessage"))
    queries = len(stack.posthog.hogql_log)
    report = stack.services.alerts.run_cycle()
    assert report.runs_processed == []
    assert len(stack.slack.calls_to("chat.postMessage")) == messages
    assert len(stack.posthog.hogql_log) - queries == 1


@pytest.mark.parametrize("change", [Change.ERROR_HEAVY, Change.VANISHED_CLUSTER])
def test_next_run_is_alerted_for_three_queries(bot: Bot, change: Change) -> None:
    stack, world = bot.stack, make_world()
    bot.cycle()
    queries = len(stack.posthog.hogql_log)
    later = emit_next_run(
        world, job_name="Default - traces", change=Plant(change, scale=STRONG), now=NOW
    )
    stack.posthog.insert_events(later.added_events)
    report = bot.cycle()
    newest = later.runs_of("Default - traces")[-1]
    assert report.runs_processed == [newest.run_id]
    # One query finds it, one loads it (metrics embedded), one reads its items' own values;
    # the previous run comes from the store. One more reads the traits of the alerted
    # clusters' items for their causes, when an alert is on a cluster of this run (a vanished
    # cluster has none to explain).
    causes = 1 if change is Change.ERROR_HEAVY else 0
    assert len(stack.posthog.hogql_log) - queries == 3 + causes
    assert sum("AS http_status" in q for q in stack.posthog.hogql_log[queries:]) == causes
    parent = next(m for m in bot.parents() if newest.run_id in all_text(m))
    planted = next(p for p in later.planted if p.run_id == newest.run_id)
    cluster_id = (
        planted.cluster_id if planted.cluster_id is not None else planted.previous_cluster_id
    )
    assert f"/{cluster_id}" in all_text(parent)
    kinds = [
        key.kind
        for row in bot.store.outbox(bot.channel)
        if row.run_id == newest.run_id and isinstance(key := parse_key(row.key), AlertKey)
    ]
    assert KIND[change] in kinds


def test_dry_run_prints_and_stores_nothing(bot: Bot) -> None:
    posted = len(bot.slack.calls_to("chat.postMessage"))  # to any channel
    report = bot.services.alerts.run_cycle(dry_run=True)
    assert report.preview and len(report.runs_processed) == 3
    assert len(bot.slack.calls_to("chat.postMessage")) == posted
    assert bot.store.outbox() == []
    assert bot.cycle().messages_stored > 0  # still news afterwards


def test_muted_cluster_stays_muted_in_the_next_run(bot: Bot) -> None:
    stack, world = bot.stack, make_world()
    bot.cycle()
    planted = next(p for p in world.planted if p.job_name == "Default - traces")
    bot.services.channel_settings.mute_ref(
        bot.channel, planted.run_id, planted.cluster_id, 24, "U0ADMIN"
    )
    later = emit_next_run(world, job_name="Default - traces", change=Change.NONE, now=NOW)
    stack.posthog.insert_events(later.added_events)
    newest = later.runs_of("Default - traces")[-1]

    bot.cycle()

    mutes = bot.store.active_mutes(bot.channel, NOW, newest.run_id)
    assert mutes, "the mute was carried to the matched cluster of the newer run"
    (muted,) = {m.cluster_id for m in mutes}
    # The errors are still there on the newer run, but nothing about the muted cluster is said:
    # no alert, and no "still elevated" note in the earlier alert's thread.
    said = [r.key for r in bot.store.outbox(bot.channel) if r.run_id == newest.run_id]
    assert not [key for key in said if key.endswith(f":{muted}") or f"{planted.run_id}:" in key]


def test_subscriptions_route_runs_to_channels(bot: Bot) -> None:
    ops = bot.slack.create_channel("llm-ops", "C0OPS")
    bot.store.subscribe(ops, None, "Checkout assistant", "U0ADMIN")
    bot.cycle()
    in_ops = [m for m in bot.slack.messages(ops) if not m.ephemeral_for]
    assert len(in_ops) == 1 and "Checkout assistant" in all_text(in_ops[0])
    assert len(bot.parents()) == 3  # the default channel still hears everything


def test_a_first_cycle_loads_its_runs_in_one_batched_query(first_cycle: FirstCycle) -> None:
    # The runs of the days before NOW (yesterday noon): the cycle's look-back (8 days) lists
    # each newest run's predecessor.
    sent = first_cycle.queries
    # The run list, then the newest run of each of the three series and the run before it in
    # one query, then the newest runs' item values: one query per level, as the two trace
    # series share a window; and one query per run with an alert, for its likely causes. This
    # PostHog has no embeddings table: the first run's assignment query finds that out, and
    # the other runs do not ask again.
    assigning = [q for q in sent if q in ASSIGNMENT_QUERIES]
    assert len(assigning) == 1
    sent = [q for q in sent if q not in ASSIGNMENT_QUERIES]
    assert sent.count(queries.GET_RUNS) == 1
    assert [q for q in sent if "{run_id}" in q] == []  # no run loaded on its own
    assert sent.count(queries.RUN_ITEM_METRICS[Level.TRACE]) == 1
    assert sent.count(queries.RUN_ITEM_METRICS[Level.GENERATION]) == 1
    causes = sent.count(queries.TRACE_ITEM_TRAITS) + sent.count(queries.GENERATION_ITEM_TRAITS)
    assert causes <= 3  # at most one per newest run
    assert len(sent) == 1 + 1 + 2 + causes
