"""The Home tab's health says whether early warnings run, when the last check ran, how many
warnings are open, and why and until when they pause; end to end on the stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.rendering.home import describe_early
from bot.store.schema import EarlyWarningRow
from bot.views import EarlyHealth
from standins.slack.server import Message
from standins.slack.user_views import open_home
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import SeriesSpec
from tests.support import worlds
from tests.support.blocks import all_text
from tests.support.clock import NOW

USER = "U0BOB"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    world = worlds.generate(seed=5, series=[SeriesSpec()], runs=2, items_per_run=120, now=NOW)
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        worlds.load(running.posthog, world)
        running.slack.add_user(USER, "bob")
        yield running


def health_text(stack: Stack) -> str:
    before = stack.slack.home_view(USER)
    response = open_home(stack.user(USER))
    assert response.status_code == 200, response.text
    assert stack.slack.wait_for(lambda: stack.slack.home_view(USER) not in (None, before), 10)
    view = stack.slack.home_view(USER)
    assert view is not None
    return all_text(Message(ts="0", channel="", user="", blocks=view["blocks"]))


def add_warning(stack: Stack, cluster_id: int, status: str) -> None:
    with Session(stack.services.store.engine) as session, session.begin():
        session.add(
            EarlyWarningRow(
                channel=ALERT_CHANNEL,
                level="trace",
                job_id="job",
                run_id="r1",
                cluster_id=cluster_id,
                kind="share_up",
                key=f"early:{cluster_id}",
                status=status,
                payload={},
            )
        )


def test_home_tab_says_early_warnings_pause_without_embeddings_and_until_when(
    stack: Stack,
) -> None:
    text = health_text(stack)
    assert "Early warnings between runs: every 1 h; no check yet; 0 open" in text
    stack.services.alerts.run_cycle()
    report = stack.services.early.run_due()
    assert report.series_due == 1  # checked, found no embeddings table: paused
    add_warning(stack, 1, "open")
    add_warning(stack, 2, "open")
    add_warning(stack, 3, "retracted")
    pause = stack.services.early.pause(stack.services.store.clock())
    assert pause is not None
    text = health_text(stack)
    assert "Early warnings between runs: every 1 h; last check " in text
    assert "; 2 open (each settled by its series' next daily run)." in text
    assert f"Paused until {pause.until:%b %d %H:%M} UTC" in text
    assert "summary embeddings cannot be read: this PostHog has no summary embeddings" in text
    assert "Fix: upgrade PostHog" in text


def test_the_early_line_says_off_or_its_interval_and_any_pause() -> None:
    assert describe_early(EarlyHealth(None), NOW) == (
        "Early warnings between runs: off (EARLY_WARNING_INTERVAL=off)."
    )
    checked = EarlyHealth(timedelta(minutes=30), NOW - timedelta(minutes=12), 0)
    line = describe_early(checked, NOW)
    assert line.startswith("Early warnings between runs: every 30 min; last check ")
    assert "(12 min ago); 0 open" in line and "Paused" not in line
    stamp = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    paused = EarlyHealth(timedelta(seconds=90), None, 3, stamp, "why. Fix: this.")
    assert describe_early(paused, NOW).endswith(
        "every 90 s; no check yet; 3 open (each settled by its series' next daily run). "
        "Paused until Jan 02 03:04 UTC: the summary embeddings cannot be read: why. Fix: this."
    )
