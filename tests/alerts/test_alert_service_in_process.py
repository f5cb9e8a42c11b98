"""The alert service in-process, with a recording notifier in place of Slack: a cycle stores
what it would say in the outbox and hands delivery to the notifier, and never writes to Slack
itself (bot/slack/ owns every write)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.services.alerts import AlertService
from bot.services.routing import Routing
from bot.store.outbox import OutboxStatus
from standins.stack import ALERT_CHANNEL, Stack
from tests.support.alerting import load, make_world
from tests.support.notifier import RecordingNotifier


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        yield running


def test_a_cycle_queues_its_alerts_and_leaves_delivery_to_the_notifier(stack: Stack) -> None:
    world = make_world()
    load(stack, world)
    services = stack.services
    notifier = RecordingNotifier()
    alerts = AlertService(
        services.runs,
        services.store,
        Routing(services.store, ALERT_CHANNEL),
        services.changes,
        notifier,
        clock=services.alerts.clock,
    )

    report = alerts.run_cycle()

    assert len(report.runs_processed) == 3
    assert notifier.drains == 1  # one hand-over per cycle
    assert (notifier.replies, notifier.uploads) == ([], [])
    assert stack.slack.messages(ALERT_CHANNEL) == []  # nothing reached Slack
    rows = services.store.outbox(ALERT_CHANNEL)
    parents = [r for r in rows if r.parent_key is None]
    assert len(parents) == len(world.planted) == 3
    assert {r.status for r in rows} == {OutboxStatus.PENDING}
    for planted in world.planted:  # each change has its parent, and details in its thread
        parent = next(r for r in parents if planted.run_id in r.text + str(r.blocks))
        assert any(r.parent_key == parent.key for r in rows)

    again = alerts.run_cycle()  # the same runs again: nothing new to say
    assert again.runs_processed == []
    assert len(services.store.outbox(ALERT_CHANNEL)) == len(rows)
    assert notifier.drains == 2
