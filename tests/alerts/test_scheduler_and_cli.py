"""The scheduler's jobs and `clusters-bot check`, against the local stand-ins."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.schedule import (
    CHECK_RUNS_JOB_ID,
    DELIVER_OUTBOX_JOB_ID,
    EARLY_WARNINGS_JOB_ID,
    build_scheduler,
)
from standins.stack import Stack
from tests.support.alerting import load, make_world, parents
from tests.support.cli import run_cli


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        yield running


def test_scheduler_jobs_are_explicit_utc_and_single_instance(stack: Stack) -> None:
    scheduler = build_scheduler(stack.services, background=True)
    scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {CHECK_RUNS_JOB_ID, DELIVER_OUTBOX_JOB_ID, EARLY_WARNINGS_JOB_ID}
        for job in jobs.values():
            assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time
        assert str(scheduler.timezone) == "UTC"
    finally:
        scheduler.shutdown(wait=False)


def test_early_warnings_off_means_no_early_job(tmp_path: Path) -> None:
    with Stack(
        database_url=f"sqlite:///{tmp_path / 'off.db'}",
        extra_settings={"early_warning_interval": "off"},
    ) as stack:
        scheduler = build_scheduler(stack.services, background=True)
        jobs = {job.id for job in scheduler.get_jobs()}
        assert EARLY_WARNINGS_JOB_ID not in jobs and CHECK_RUNS_JOB_ID in jobs
        assert not stack.services.early.enabled
        assert stack.services.early.run_due().queries == 0


def test_a_scheduler_tick_posts_the_alerts(stack: Stack) -> None:
    load(stack, make_world())
    scheduler = build_scheduler(stack.services, background=True)
    scheduler.start()
    try:
        assert stack.slack.wait_for(lambda: len(parents(stack)) == 3, timeout=30)
    finally:
        scheduler.shutdown(wait=True)


def check(stack: Stack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`clusters-bot check` in this process (its exit codes as a process: tests/test_settings),
    without the channel's pace (a second a message)."""
    env = stack.environment(
        f"sqlite:///{tmp_path / 'cli.db'}", HOME=str(tmp_path), SLACK_POST_INTERVAL_SECONDS="0"
    )
    return run_cli(["check", *args], env=env, cwd=tmp_path)


def test_check_posts_once_and_nothing_the_second_time(stack: Stack, tmp_path: Path) -> None:
    load(stack, make_world())
    dry = check(stack, tmp_path, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "== C0ALERTS" in dry.stdout and "thread>" in dry.stdout
    assert parents(stack) == []
    first = check(stack, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "processed 3" in first.stdout and len(parents(stack)) == 3
    # checked, no summaries
    assert "early warnings 0 (confirmed 0, retracted 0, not confirmed 0)" in first.stdout
    posted = len(stack.slack.calls_to("chat.postMessage"))
    second = check(stack, tmp_path)
    assert second.returncode == 0 and "processed 0" in second.stdout
    assert "PostHog queries 1" in second.stdout
    # `check` has returned, its services closed: nothing of it can still post.
    assert len(stack.slack.calls_to("chat.postMessage")) == posted


def test_check_with_posthog_down_fails_with_a_message(stack: Stack, tmp_path: Path) -> None:
    stack.posthog.faults.add(503, count=100)
    result = check(stack, tmp_path)
    assert result.returncode == 1
    assert "PostHog" in result.stderr and "Traceback" not in result.stderr
