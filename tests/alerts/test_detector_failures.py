"""A detector test that raises costs that test only: the run's other alerts are delivered, and
the failure is logged with its run, cluster and test, counted in /metrics and shown in the Home
tab's health. The failing test is injected through one narrow seam (`fresh.CLUSTER_TESTS`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.domain import fresh
from bot.domain.fresh_base import Candidates
from bot.domain.slices import ClusterSlices
from bot.rendering.home import render_home
from standins.stack import ALERT_CHANNEL, Stack
from tests.support.alerting import load, make_world, parents
from tests.support.blocks import all_text, mrkdwn_texts


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        yield running


def broken(found: Candidates, cs: ClusterSlices) -> None:
    if cs.cluster.cluster_id == 0:  # one odd cluster per run
        raise ZeroDivisionError("float division by zero")


def test_a_failing_test_costs_only_itself_and_is_seen(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world()
    load(stack, world)
    monkeypatch.setattr(fresh, "CLUSTER_TESTS", (*fresh.CLUSTER_TESTS, ("broken", broken)))

    with caplog.at_level(logging.ERROR, logger="bot.services.detector_health"):
        report = stack.services.alerts.run_cycle()

    # Every run was processed and every planted change still reached Slack.
    assert len(report.runs_processed) == 3 and report.runs_failed == []
    posted = parents(stack)
    for planted in world.planted:
        assert any(planted.run_id in all_text(m) for m in posted), planted
    # Logged with run, cluster and test; once per run however many channels read it.
    logged = [r for r in caplog.records if r.getMessage() == "alerts.detector.test_failed"]
    assert sorted(r.__dict__["run_id"] for r in logged) == sorted(report.runs_processed)
    assert {(r.__dict__["cluster_id"], r.__dict__["test"]) for r in logged} == {(0, "broken")}
    assert len(report.test_failures) == 3
    # Counted in /metrics, shown in the Home tab's health.
    metrics = httpx.get(stack.metrics_url).text
    assert "clusters_bot_detector_failures_total 3.0" in metrics
    home = "\n".join(mrkdwn_texts(render_home(stack.services.home.view(admin=True))))
    assert "Detector tests that failed: 3" in home
    assert "broken test of cluster 0: ZeroDivisionError" in home
    assert stack.slack.messages(ALERT_CHANNEL)  # and the alerts went out


def test_without_failures_the_count_is_zero_and_the_home_tab_says_nothing(stack: Stack) -> None:
    load(stack, make_world())
    stack.services.alerts.run_cycle()

    assert "clusters_bot_detector_failures_total 0.0" in httpx.get(stack.metrics_url).text
    home = "\n".join(mrkdwn_texts(render_home(stack.services.home.view(admin=True))))
    assert "Health" in home and "Detector tests that failed" not in home
