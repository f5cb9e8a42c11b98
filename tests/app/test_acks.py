"""Acks that never wait: Slack's requests are answered before any slow or rate-limited work,
redelivered events are handled once, and a modal is never opened on an expired trigger_id. End
to end through the real Bolt app; the fake Slack delivers events as Slack does (3 s to answer,
then again with X-Slack-Retry-Num) and records when each answer came."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.listeners.modals import BUSY_JOBS
from bot.work import WorkPool
from standins.slack.user_views import click_in_view, home_opened, open_home
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import SeriesSpec, World, generate
from tests.support.clock import NOW

ADMIN = "U0ADMIN"


@pytest.fixture(scope="module")
def world() -> World:
    series = [SeriesSpec(level="trace", job_name="Default - traces")]
    return generate(seed=3, series=series, runs=2, items_per_run=80, now=NOW)


@pytest.fixture
def stack(world: World, tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        running.posthog.insert_events(world.events)
        running.posthog.set_jobs(world.jobs)
        running.slack.add_user(ADMIN, "admin")
        running.slack.set_admin(ADMIN)
        yield running


def published(stack: Stack, user: str) -> list[int]:
    """Indexes in the fake's call log of the views.publish calls for `user` that succeeded."""
    return [
        i
        for i, call in enumerate(stack.slack.calls)
        if call.method == "views.publish" and call.error is None and call.status == 200
        and call.params.get("user_id") == user
    ]  # fmt: skip


def test_a_rate_limited_home_tab_is_acked_first_and_published_after_the_wait(
    stack: Stack,
) -> None:
    stack.slack.faults.add("views.publish", status=429, retry_after=2)
    before = len(stack.slack.deliveries)
    assert open_home(stack.user(ADMIN, "admin")).status_code == 200
    assert stack.slack.wait_for(lambda: bool(published(stack, ADMIN)), 20)
    deliveries = stack.slack.deliveries[before:]
    assert [(d.attempt, d.status) for d in deliveries] == [(1, 200)]  # acked: no redelivery
    # The ack came before the publish that waited out the Retry-After (and before the 429).
    assert deliveries[0].calls_before_ack <= published(stack, ADMIN)[0]
    limited = [c for c in stack.slack.calls_to("views.publish") if c.status == 429]
    assert len(limited) == 1


def test_a_redelivered_event_is_handled_once(stack: Stack) -> None:
    user = stack.user(ADMIN, "admin")
    body = home_opened(user, event_id="Ev0REDELIVERED")

    def deliver(*retry: str) -> httpx.Response:
        headers = user.signed_headers(body) | {"Content-Type": "application/json"}
        if retry:
            headers |= {"X-Slack-Retry-Num": retry[0], "X-Slack-Retry-Reason": retry[1]}
        return httpx.post(user.events_url, content=body.encode(), headers=headers, timeout=10)

    assert deliver().status_code == 200
    assert stack.slack.wait_for(lambda: len(published(stack, ADMIN)) == 1, 10)
    assert deliver("1", "http_timeout").status_code == 200
    assert deliver().status_code == 200  # the same event_id without the header: a duplicate
    # A redelivery because the app answered with an error is handled: that attempt did nothing.
    assert deliver("2", "http_error").status_code == 200
    assert stack.slack.wait_for(lambda: len(published(stack, ADMIN)) == 2, 10)
    stack.services.work.close(timeout=10)  # everything handed over has run
    assert len(published(stack, ADMIN)) == 2


def test_a_rate_limited_views_open_gives_up_instead_of_using_an_expired_trigger(
    stack: Stack,
) -> None:
    home = None
    assert open_home(stack.user(ADMIN, "admin")).status_code == 200
    assert stack.slack.wait_for(lambda: stack.slack.home_view(ADMIN) is not None, 10)
    home = stack.slack.home_view(ADMIN)
    assert home is not None
    stack.slack.faults.add("views.open", status=429, retry_after=5)
    response = click_in_view(
        stack.user(ADMIN, "admin"), home, "home.edit_thresholds", matching=ALERT_CHANNEL
    )
    assert response.status_code in (200, 500)  # answered: Bolt's error handler or the ack
    calls = stack.slack.calls_to("views.open")
    assert [c.status for c in calls] == [429]  # no second try after sleeping past the trigger
    assert stack.slack.open_views(ADMIN) == []


def test_a_busy_pool_opens_the_subscriptions_form_without_asking_posthog(stack: Stack) -> None:
    assert open_home(stack.user(ADMIN, "admin")).status_code == 200
    assert stack.slack.wait_for(lambda: stack.slack.home_view(ADMIN) is not None, 10)
    home = stack.slack.home_view(ADMIN)
    assert home is not None
    stack.services.work = WorkPool(workers=1, queue_limit=0)
    assert stack.services.work.reserve()  # the only place is taken
    asked = len(stack.posthog.hogql_log)
    response = click_in_view(
        stack.user(ADMIN, "admin"), home, "home.edit_subscriptions", matching=ALERT_CHANNEL
    )
    assert response.status_code == 200
    (modal,) = stack.slack.open_views(ADMIN)
    assert BUSY_JOBS in json.dumps(modal.view)
    assert len(stack.posthog.hogql_log) == asked  # no PostHog query before the ack
    stack.services.work.cancel()  # give the place back, so the stack closes without waiting
