"""Each consumer needs only its own protocol of the store: a stand-in with just those methods
serves it (mypy checks the fit of the real `Store` in bot/wiring.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain.alerts import AlertKind
from bot.domain.fresh_base import TestFailure as Failure
from bot.domain.models import Cluster, ClusteringRun, Level, RunSummary, SeriesKey
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import make_environment
from bot.services.assignment import Unavailable
from bot.services.detector_health import read_failures, record_failures
from bot.services.early_health import EARLY_BEAT, EarlyPause, read_early_health, record_early_check
from bot.services.early_settle import Settler
from bot.services.routing import Routing
from bot.store.early import OPEN, UNDECIDED, EarlyWarning, Message
from bot.store.keys import EarlyOutcomeKey, EarlyWarningKey
from bot.store.ports import EarlySettling, Heartbeats, Subscriptions
from bot.store.schema import SubscriptionRow
from bot.views import EarlyHealth
from tests.support.clock import NOW


class SubscriptionsOnly:
    def __init__(self, rows: list[SubscriptionRow]) -> None:
        self.rows = rows

    def subscriptions(self, channel: str | None = None) -> list[SubscriptionRow]:
        return [row for row in self.rows if channel is None or row.channel == channel]


class HeartbeatsOnly:
    def __init__(self) -> None:
        self.beats: dict[str, tuple[datetime, str]] = {}

    def beat(self, name: str, detail: str = "") -> None:
        self.beats[name] = (NOW, detail)

    def heartbeat(self, name: str) -> tuple[datetime, str] | None:
        return self.beats.get(name)


def test_routing_reads_nothing_but_subscriptions() -> None:
    store: Subscriptions = SubscriptionsOnly(
        [
            SubscriptionRow(channel="C0OPS", level="trace", job=None, active=True),
            SubscriptionRow(channel="C0GEN", level="generation", job=None, active=True),
            SubscriptionRow(channel="C0DEFAULT", level=None, job=None, active=False),
        ]
    )
    run = RunSummary(run_id="r1", level=Level.TRACE, total_items=10, timestamp=NOW)
    assert Routing(store, "C0DEFAULT").channels_for(run) == ["C0OPS"]


def test_detector_health_needs_only_heartbeats() -> None:
    store: Heartbeats = HeartbeatsOnly()
    assert read_failures(store).total == 0
    record_failures(store, "r1", [Failure(3, "fresh", "ZeroDivisionError")])
    record_failures(store, "r2", [Failure(None, "share", "ValueError")])
    failures = read_failures(store)
    assert (failures.total, failures.run_id) == (2, "r2")
    assert failures.last == "share test of the run: ValueError"


def test_early_health_needs_only_heartbeats_and_forgets_a_pause_once_over() -> None:
    store: Heartbeats = HeartbeatsOnly()
    hour = timedelta(hours=1)
    assert read_early_health(store, hour, 2, NOW) == EarlyHealth(hour, open_warnings=2)
    pause = EarlyPause(NOW + 6 * hour, Unavailable.DENIED)
    record_early_check(store, NOW - hour, pause)
    paused = read_early_health(store, hour, 0, NOW)
    assert (paused.last_check, paused.paused_until) == (NOW - hour, NOW + 6 * hour)
    assert "may not read the summary embeddings" in paused.paused_why
    over = read_early_health(store, hour, 0, NOW + 7 * hour)
    assert (over.last_check, over.paused_until, over.paused_why) == (NOW - hour, None, "")
    record_early_check(store, NOW, None)
    assert read_early_health(store, None, 0, NOW) == EarlyHealth(None, NOW)
    store.beat(EARLY_BEAT, "not json")  # a garbled row still says when it was written
    assert read_early_health(store, None, 1, NOW) == EarlyHealth(None, NOW, 1)


def run_of(run_id: str, at: datetime) -> ClusteringRun:
    return ClusteringRun(
        run_id=run_id,
        level=Level.TRACE,
        job_id="j",
        total_items=100,
        timestamp=at,
        window_start=at - timedelta(days=1),
        window_end=at,
        clusters=(Cluster(cluster_id=3, size=40, title="Refunds"),),
    )


class EarlySettlingOnly:
    """Two runs of one series, the second processed, and one open warning on the first; the
    second has no stored previous run here, so its daily detection cannot confirm it."""

    def __init__(self, warning: EarlyWarning) -> None:
        self.runs = {"r1": run_of("r1", NOW - timedelta(days=1)), "r2": run_of("r2", NOW)}
        self.warnings = {warning.id: (warning, OPEN)}
        self.stored: list[Message] = []

    def get_run(self, run_id: str) -> ClusteringRun | None:
        return self.runs.get(run_id)

    def previous_run(self, run: RunSummary) -> ClusteringRun | None:
        return None

    def thresholds(self, channel: str) -> dict[str, str]:
        return {}

    def open_early_warnings(self, series: SeriesKey) -> list[EarlyWarning]:
        return [w for w, status in self.warnings.values() if status == OPEN]

    def processed_run_after(self, run: RunSummary) -> RunSummary | None:
        return self.runs["r2"].summary if run.run_id == "r1" else None

    def settle_early_warnings(
        self, run_id: str, settled: Sequence[tuple[EarlyWarning, str, Sequence[Message]]]
    ) -> int:
        for warning, status, messages in settled:
            self.warnings[warning.id] = (warning, status)
            self.stored += messages
        return sum(len(messages) for _, _, messages in settled)

    def latest_version(self, channel: str, key: str) -> tuple[str, list[dict[str, object]]] | None:
        block: dict[str, object] = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
        return "Early warning: errors up", [block]


def test_settling_early_warnings_needs_only_its_protocol() -> None:
    key = EarlyWarningKey("r1", 3, AlertKind.ERROR_HEAVY)
    series = SeriesKey(Level.TRACE, "j")
    warning = EarlyWarning(
        7, "C0OPS", series, "r1", 3, AlertKind.ERROR_HEAVY.value, key.encode(), {}
    )
    only = EarlySettlingOnly(warning)
    store: EarlySettling = only
    renderer = EarlyRenderer(Renderer(make_environment(), PostHogUrls("https://ui.test", 3)))
    settled = Settler(store, renderer).settle(series)
    # no run before r2 is stored here, so r2 has no detection and no items to rule it out by
    found = (settled.confirmed, settled.retracted, settled.undecided, settled.messages_stored)
    assert found == (0, 0, 1, 2)
    assert only.warnings[7][1] == UNDECIDED
    note, edit = only.stored
    assert EarlyOutcomeKey.parse(note.key) == EarlyOutcomeKey(UNDECIDED, key)
    assert (edit.action, edit.parent_key) == ("update", key.encode())
    assert Settler(store, renderer).settle(series).undecided == 0  # settled once
