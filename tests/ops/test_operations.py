"""/healthz, /metrics, JSON logs, and the Procfile run by a Procfile runner (honcho)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.observability import JsonFormatter
from standins.stack import ALERT_CHANNEL, Stack
from tests.support.alerting import load, make_world
from tests.support.bolt import wait_until
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # /healthz is cached for 5 s in production; these tests watch it change.
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}", health_cache_seconds=0) as running:
        yield running


def base_url(stack: Stack) -> str:
    return stack.events_url.removesuffix("/slack/events")


def test_healthz_reports_database_and_scheduler(stack: Stack) -> None:
    body = httpx.get(f"{base_url(stack)}/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["scheduler"]["status"] == "unknown"
    # Every finished cycle beats, one with no runs to alert on too: no world to load and compare.
    report = stack.services.alerts.run_cycle()
    assert report.runs_seen == 0
    body = httpx.get(f"{base_url(stack)}/healthz").json()
    assert body["scheduler"]["status"] == "ok" and body["scheduler"]["age_seconds"] < 60


def test_metrics_in_prometheus_format(stack: Stack) -> None:
    load(stack, make_world())
    stack.services.alerts.run_cycle()
    user = stack.user("U0METRICS")
    user.command("runs 2")
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0METRICS" for m in stack.slack.messages("C0GENERAL")), 20
    )
    # The timing is recorded just after the reply is sent.
    timed = 'command_seconds_count{command="runs"}'
    assert wait_until(lambda: timed in httpx.get(stack.metrics_url).text, 10)
    response = httpx.get(stack.metrics_url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'clusters_bot_posthog_requests_total{kind="list_runs"}' in text
    assert "clusters_bot_posthog_query_budget_remaining" in text
    sent = [
        line
        for line in text.splitlines()
        if line.startswith('clusters_bot_outbox_messages{status="sent"}')
    ]
    assert sent and float(sent[0].split()[-1]) >= 3
    assert 'clusters_bot_command_seconds_count{command="runs"}' in text
    assert "clusters_bot_scheduler_heartbeat_age_seconds" in text


def test_json_logs_carry_the_event_name_and_extras() -> None:
    record = logging.LogRecord(
        "bot.x", logging.INFO, __file__, 1, "alerts.cycle.completed", (), None
    )
    record.runs_seen = 3
    entry = json.loads(JsonFormatter().format(record))
    assert entry["event"] == "alerts.cycle.completed" and entry["runs_seen"] == 3
    assert entry["level"] == "info" and entry["logger"] == "bot.x"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_procfile_web_and_clock_under_honcho(stack: Stack, tmp_path: Path) -> None:
    load(stack, make_world())
    port = free_port()
    env = {
        **os.environ,
        **stack.environment(
            f"sqlite:///{tmp_path / 'procfile.db'}",
            POLL_INTERVAL_SECONDS="10",
            SLACK_POST_INTERVAL_SECONDS="0",  # no channel pace: a second a message
        ),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    honcho = Path(sys.executable).with_name("honcho")
    # The schema first, as a release step would (in this process: the processes are the
    # Procfile's web and clock).
    migrated = run_cli(["migrate"], env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(
        [str(honcho), "-f", str(REPO / "Procfile"), "start", "-p", str(port), "web", "clock"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                body = response.json()
                if body["scheduler"]["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert body is not None and body["status"] == "ok", body
        assert body["scheduler"]["status"] == "ok"  # the clock process ran a cycle
        assert stack.slack.wait_for(
            lambda: (
                len([m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]) == 3
            ),
            30,
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
