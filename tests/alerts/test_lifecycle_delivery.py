"""An alert's life as a channel sees it, through the real alert service, store, outbox and the
fake Slack Web API: it fires once, later runs follow it in its thread, "back to normal" edits the
parent message, and a change that returns fires again. An alert that confirms an early warning
lives in the warning's thread from then on, or in its run's thread, saying so, when the warning's
message is gone.

The runs come from literal daily traffic (tests/support/daily_runs.py) through a narrow seam in
place of PostHog: loading runs is the only part stood in for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.domain.alerts import AlertKind
from bot.domain.lifecycle import Phase
from bot.domain.models import ClusteringRun, RunSummary
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import make_environment
from bot.services.alerts import AlertService
from bot.services.early_settle import Settler
from bot.services.routing import Routing
from bot.slack.client import make_web_client
from bot.slack.drain import MOVED_NOTE
from bot.slack.notifier import SlackNotifier
from bot.store.early import CONFIRMED
from bot.store.keys import (
    AlertKey,
    EarlyOutcomeKey,
    EarlyWarningKey,
    EpisodeNoteKey,
    ParentUpdateKey,
    RunKey,
    SkippedKey,
    parse_key,
)
from bot.store.store import OutgoingMessage, Store
from standins.slack.server import FakeSlack
from tests.support.blocks import mrkdwn_texts
from tests.support.daily_runs import Traffic, run_series

CHANNEL = "C0ALERTS"
NORMAL = {"refunds": Traffic(25), "billing": Traffic(40), "search": Traffic(30)}
FAILING = {**NORMAL, "refunds": Traffic(25, error_rate=0.6)}


class PublishedRuns:
    """What PostHog has published so far, as the alert service reads it."""

    def __init__(self, runs: list[ClusteringRun]) -> None:
        self.all = {run.run_id: run for run in runs}
        self.published: list[ClusteringRun] = []
        self.client = SimpleNamespace(budget=SimpleNamespace(spent=0))

    def publish(self, run_id: str) -> None:
        self.published.append(self.all[run_id])

    def recent(self, *_: object, **__: object) -> list[RunSummary]:
        return [run.summary for run in reversed(self.published)]

    def predecessor(self, run: RunSummary, listed: RunSummary | None) -> ClusteringRun | None:
        return self.all[listed.run_id] if listed is not None else None

    def get(self, run_id: str, **_: object) -> ClusteringRun:
        return self.all[run_id]

    def prefetch(self, summaries: object, **_: object) -> None:
        """Every run is at hand already."""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def service(
    slack: FakeSlack, store: Store, runs: PublishedRuns, *, early: bool = False
) -> AlertService:
    now = datetime(2026, 6, 20, tzinfo=UTC)
    renderer = Renderer(
        make_environment(), PostHogUrls("https://us.posthog.com", 2), clock=lambda: now
    )
    client = make_web_client(slack.bot_token, slack.api_url, interactive=False)
    notifier = SlackNotifier(client, store, min_interval=0)
    return AlertService(
        runs,  # type: ignore[arg-type]
        store,
        Routing(store, CHANNEL),
        ChangeRenderer(renderer),
        notifier,
        clock=lambda: now + timedelta(days=1),
        early=EarlyRenderer(renderer) if early else None,
    )


def parents(slack: FakeSlack) -> list:
    return [m for m in slack.messages(CHANNEL) if not m.ephemeral_for]


def texts(message: object) -> str:
    return " ".join(mrkdwn_texts(message.blocks)) + " " + message.text  # type: ignore[attr-defined]


def cycle(tmp_path: Path, slack: FakeSlack, days: list[dict[str, Traffic]]) -> Iterator[None]:
    runs = PublishedRuns(run_series(days))
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    alerts = service(slack, store, runs)
    runs.publish("run-0")
    for run_id in sorted(runs.all)[1:]:
        runs.publish(run_id)
        alerts.run_cycle()
        yield


def test_a_change_fires_once_is_followed_in_its_thread_and_edits_the_parent_when_it_ends(
    tmp_path: Path, slack: FakeSlack
) -> None:
    # Errors on day 7 and 8 (the fresh days of run-1 and run-2), normal again on day 9.
    days = [NORMAL] * 7 + [FAILING, FAILING, NORMAL]
    steps = cycle(tmp_path, slack, days)

    next(steps)  # run-1: the change fires
    (parent,) = parents(slack)
    assert "Error rate" in texts(parent)
    assert len(slack.thread(CHANNEL, parent.ts)) == 1  # the detail

    next(steps)  # run-2: still failing: an update in the thread, no new alert
    assert len(parents(slack)) == 1
    still = slack.thread(CHANNEL, parent.ts)[-1]
    assert "Still elevated" in texts(still)
    assert slack.calls_to("chat.update") == []

    next(steps)  # run-3: back to normal: a note in the thread, and the parent says so
    assert len(parents(slack)) == 1
    assert "Back to normal" in texts(slack.thread(CHANNEL, parent.ts)[-1])
    assert len(slack.calls_to("chat.update")) == 1
    (edited,) = parents(slack)
    assert edited.edited and "back to normal" in texts(edited)
    assert "Error rate" in texts(edited)  # the original alert is still there


def test_every_key_the_alert_service_stores_is_a_typed_key_that_reads_back_the_same(
    tmp_path: Path, slack: FakeSlack
) -> None:
    days = [NORMAL] * 7 + [FAILING, FAILING, NORMAL]
    runs = PublishedRuns(run_series(days))
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    alerts = service(slack, store, runs)
    for run_id in sorted(runs.all):
        runs.publish(run_id)
        alerts.run_cycle()

    stored = [row.key for row in store.outbox(CHANNEL)]
    parsed = [parse_key(key) for key in stored]
    assert [key.encode() for key in parsed] == stored
    kinds = {type(key) for key in parsed}
    assert kinds == {RunKey, AlertKey, EpisodeNoteKey, ParentUpdateKey}


def test_a_change_that_returns_after_resolving_fires_again(
    tmp_path: Path, slack: FakeSlack
) -> None:
    days = [NORMAL] * 7 + [FAILING, NORMAL, NORMAL, FAILING]
    steps = cycle(tmp_path, slack, days)

    for _ in range(4):
        next(steps)

    first, second = parents(slack)
    assert "Error rate" in texts(first) and "back to normal" in texts(first)
    assert "Error rate" in texts(second)


def test_nothing_is_posted_twice_when_a_run_is_processed_again(
    tmp_path: Path, slack: FakeSlack
) -> None:
    days = [NORMAL] * 7 + [FAILING, FAILING]
    runs = PublishedRuns(run_series(days))
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    runs.publish("run-0")
    runs.publish("run-1")
    service(slack, store, runs).run_cycle()
    service(slack, store, runs).run_cycle()  # a restart: nothing new
    runs.publish("run-2")
    service(slack, store, runs).run_cycle()
    service(slack, store, runs).run_cycle()

    (parent,) = parents(slack)
    thread = [texts(m) for m in slack.thread(CHANNEL, parent.ts)]
    assert len(thread) == 2 and "Still elevated" in thread[1]


class FailingRuns(PublishedRuns):
    """PostHog cannot load the runs named in `broken`."""

    def __init__(self, runs: list[ClusteringRun], broken: set[str]) -> None:
        super().__init__(runs)
        self.broken = broken
        self.loads: list[str] = []

    def get(self, run_id: str, **_: object) -> ClusteringRun:
        self.loads.append(run_id)
        if run_id in self.broken:
            raise RuntimeError("PostHog sent a broken response to get_run")
        return self.all[run_id]


def test_a_run_that_keeps_failing_is_skipped_with_a_notice_and_later_runs_go_on(
    tmp_path: Path, slack: FakeSlack
) -> None:
    days = [NORMAL] * 7 + [NORMAL, FAILING]
    runs = FailingRuns(run_series(days), broken={"run-1"})
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    alerts = service(slack, store, runs)
    runs.publish("run-0")
    alerts.run_cycle()  # first sight: run-0 is the newest, only remembered
    runs.publish("run-1")
    runs.publish("run-2")

    reports = [alerts.run_cycle() for _ in range(3)]

    assert [r.runs_skipped for r in reports] == [[], [], ["run-1"]]
    assert runs.loads.count("run-1") == 3
    notice, alert = parents(slack)
    assert "Could not load" in texts(notice) and "3 tries" in texts(notice)
    assert "Error rate" in texts(alert)  # run-2 went on once run-1 was skipped
    assert parse_key(store.outbox(CHANNEL)[0].key) == SkippedKey("run-1")
    assert alerts.run_cycle().runs_processed == []  # and nothing is tried again


def test_a_run_that_arrives_late_is_processed_once(tmp_path: Path, slack: FakeSlack) -> None:
    days = [NORMAL] * 7 + [FAILING, NORMAL]
    runs = PublishedRuns(run_series(days))
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    alerts = service(slack, store, runs)
    runs.publish("run-0")
    alerts.run_cycle()
    runs.publish("run-2")
    assert alerts.run_cycle().runs_processed == ["run-2"]
    runs.published.insert(1, runs.all["run-1"])  # run-1 shows up after run-2 was processed

    late = alerts.run_cycle()
    again = alerts.run_cycle()

    assert late.runs_processed == ["run-1"] and again.runs_processed == []
    assert any("Error rate" in texts(m) for m in parents(slack))


def test_a_change_of_clustering_settings_posts_one_baseline_reset_note(
    tmp_path: Path, slack: FakeSlack
) -> None:
    series = run_series([NORMAL] * 8)
    before, after = series[0], series[1]
    reclustered = after.model_copy(
        update={
            "params": {"clustering_method": "kmeans"},
            # k-means folded "search" into the others: without the reset it would vanish.
            "clusters": tuple(c for c in after.clusters if c.title != "search"),
        }
    )
    runs = PublishedRuns(
        [before.model_copy(update={"params": {"clustering_method": "hdbscan"}}), reclustered]
    )
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    runs.publish("run-0")
    runs.publish("run-1")

    service(slack, store, runs).run_cycle()

    (note,) = parents(slack)
    assert "Baseline reset" in texts(note) and "clustering settings changed" in texts(note)
    assert "vanished" not in texts(note)
    assert slack.thread(CHANNEL, note.ts) == []


# -- an alert that confirms an early warning ------------------------------------------------------


def key_of(message: object) -> str:
    metadata = getattr(message, "metadata", None) or {}
    return str(metadata.get("event_payload", {}).get("key"))


def warned(
    tmp_path: Path, slack: FakeSlack, days: list[dict[str, Traffic]], *, deliver: bool = True
) -> tuple:
    """The alert service over `days` after run-1, with an early warning on run-1's refunds
    cluster (errors) stored, and posted when `deliver`, as a check would have."""
    runs = PublishedRuns(run_series(days))
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    alerts = service(slack, store, runs, early=True)
    runs.publish("run-0")
    runs.publish("run-1")
    alerts.run_cycle()
    run = runs.all["run-1"]
    (refunds,) = [c for c in run.clusters if c.title == "refunds"]
    key = EarlyWarningKey("run-1", refunds.cluster_id, AlertKind.ERROR_HEAVY).encode()
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "Early warning: errors"}}
    warning = OutgoingMessage(key, "Early warning: refunds errors", [section])
    store.record_early_warnings(
        run.summary, {CHANNEL: [(refunds.cluster_id, "error_heavy", {}, warning)]}
    )
    assert alerts.notifier is not None
    if deliver:
        alerts.notifier.deliver()
    return runs, store, alerts, key


def test_a_confirmed_warning_s_thread_follows_the_alert_to_its_end(
    tmp_path: Path, slack: FakeSlack
) -> None:
    # Errors on day 8 and 9 (run-2 and run-3), normal again on day 10 (run-4).
    runs, _, alerts, key = warned(tmp_path, slack, [NORMAL] * 8 + [FAILING, FAILING, NORMAL])
    (top,) = parents(slack)
    assert key_of(top) == key

    for run_id in ("run-2", "run-3", "run-4"):
        runs.publish(run_id)
        alerts.run_cycle()

    refunds = next(c for c in runs.all["run-2"].clusters if c.title == "refunds")
    alert = AlertKey(AlertKind.ERROR_HEAVY, "run-2", refunds.cluster_id)
    thread = [parse_key(key_of(m)) for m in slack.thread(CHANNEL, top.ts)]
    assert thread == [
        EarlyOutcomeKey(CONFIRMED, EarlyWarningKey.parse(key)),
        alert,
        EpisodeNoteKey(Phase.STILL, alert, "run-3"),
        EpisodeNoteKey(Phase.RESOLVED, alert, "run-4"),
    ]
    warning, summary = parents(slack)  # the run's message lists it, and holds no thread
    assert key_of(summary) == RunKey("run-2").encode()
    assert "first warned early" in texts(summary)
    assert slack.thread(CHANNEL, summary.ts) == []
    assert warning.edited and "back to normal" in texts(warning)  # the warning says it ended
    assert "Confirmed by" in texts(warning)  # and, before that, that run-2 confirmed it
    assert "Early warning: errors" in texts(warning)


def test_when_the_warning_is_gone_the_alert_goes_to_its_run_s_thread_and_says_so(
    tmp_path: Path, slack: FakeSlack
) -> None:
    runs, store, alerts, key = warned(tmp_path, slack, [NORMAL] * 8 + [FAILING, FAILING])
    (top,) = parents(slack)
    client = make_web_client(slack.bot_token, slack.api_url)
    client.chat_delete(channel=CHANNEL, ts=top.ts)  # someone deleted the warning

    runs.publish("run-2")
    report = alerts.run_cycle()
    runs.publish("run-3")
    alerts.run_cycle()

    (summary,) = parents(slack)
    assert key_of(summary) == RunKey("run-2").encode()
    moved = slack.thread(CHANNEL, summary.ts)
    detail, still = (parse_key(key_of(m)) for m in moved)
    assert isinstance(detail, AlertKey) and detail.kind is AlertKind.ERROR_HEAVY
    assert still == EpisodeNoteKey(Phase.STILL, detail, "run-3")
    assert all(MOVED_NOTE in m.text for m in moved)  # each says why it is here
    assert report.delivery is not None and report.delivery.failed == []  # no notice
    rows = {row.key: row for row in store.outbox(CHANNEL)}
    assert rows[detail.encode()].status == "sent"
    assert rows[detail.encode()].parent_key == RunKey("run-2").encode()
    # The confirmation was about the warning alone: with it gone, it fails, quietly.
    note = EarlyOutcomeKey(CONFIRMED, EarlyWarningKey.parse(key)).encode()
    assert (rows[note].status, rows[note].last_error) == ("failed", "thread_not_found")


def test_when_the_warning_could_not_be_posted_its_alert_goes_to_its_run_s_thread(
    tmp_path: Path, slack: FakeSlack
) -> None:
    runs, store, alerts, key = warned(
        tmp_path, slack, [NORMAL] * 8 + [FAILING, FAILING], deliver=False
    )
    slack.faults.add("chat.postMessage", error="invalid_blocks")  # the warning, when it goes

    runs.publish("run-2")
    alerts.run_cycle()

    rows = {row.key: row for row in store.outbox(CHANNEL)}
    assert rows[key].status == "failed"
    summary = next(m for m in parents(slack) if key_of(m) == RunKey("run-2").encode())
    (moved,) = slack.thread(CHANNEL, summary.ts)
    alert = parse_key(key_of(moved))
    assert isinstance(alert, AlertKey) and alert.kind is AlertKind.ERROR_HEAVY
    assert MOVED_NOTE in moved.text
    moved_row = rows[alert.encode()]  # stored for the warning's thread, then moved
    assert (moved_row.parent_key, moved_row.status) == (RunKey("run-2").encode(), "sent")


def test_a_warning_stored_after_its_next_run_is_settled_by_the_early_check_in_its_thread(
    tmp_path: Path, slack: FakeSlack
) -> None:
    # The cycle records run-2 before a racing check stores two warnings on run-1: the cycle
    # cannot settle them, the early check's Settler does, and the alert stays where it went.
    runs = PublishedRuns(run_series([NORMAL] * 8 + [FAILING, FAILING]))
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    alerts = service(slack, store, runs, early=True)
    for run_id in ("run-0", "run-1", "run-2"):
        runs.publish(run_id)
        store.save_run(runs.all[run_id])  # as the run repository stores what it loads
        alerts.run_cycle()
    run = runs.all["run-1"]
    (refunds,) = [c for c in run.clusters if c.title == "refunds"]
    stored = []
    for kind in (AlertKind.ERROR_HEAVY, AlertKind.COST_SPIKE):
        key = EarlyWarningKey("run-1", refunds.cluster_id, kind).encode()
        section = {"type": "section", "text": {"type": "mrkdwn", "text": f"Early: {kind}"}}
        message = OutgoingMessage(key, f"Early warning: refunds {kind}", [section])
        stored.append((refunds.cluster_id, kind.value, {}, message))
    store.record_early_warnings(run.summary, {CHANNEL: stored})
    errors_key, cost_key = (m.key for *_, m in stored)

    renderer = Renderer(make_environment(), PostHogUrls("https://us.posthog.com", 2))
    settled = Settler(store, EarlyRenderer(renderer)).settle(run.series)
    assert (settled.confirmed, settled.retracted) == (1, 1)
    assert alerts.notifier is not None
    alerts.notifier.deliver()

    by_key = {key_of(m): m for m in parents(slack)}
    errors, cost, summary = by_key[errors_key], by_key[cost_key], by_key[RunKey("run-2").encode()]
    assert [parse_key(key_of(m)) for m in slack.thread(CHANNEL, errors.ts)] == [
        EarlyOutcomeKey(CONFIRMED, EarlyWarningKey.parse(errors_key))
    ]  # a note only: the alert is in its run's thread already, and stays there
    assert errors.edited and "Confirmed by" in texts(errors)
    assert cost.edited and "Retracted" in texts(cost)
    (detail,) = [parse_key(key_of(m)) for m in slack.thread(CHANNEL, summary.ts)]
    assert isinstance(detail, AlertKey) and detail.kind is AlertKind.ERROR_HEAVY
    assert Settler(store, EarlyRenderer(renderer)).settle(run.series).confirmed == 0  # once
