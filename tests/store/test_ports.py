"""Each consumer needs only its own protocol of the store: a stand-in with just those methods
serves it (mypy checks the fit of the real `Store` in bot/wiring.py)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.fresh_base import TestFailure as Failure
from bot.domain.models import Level, RunSummary
from bot.services.detector_health import read_failures, record_failures
from bot.services.routing import Routing
from bot.store.ports import Heartbeats, Subscriptions
from bot.store.schema import SubscriptionRow
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
