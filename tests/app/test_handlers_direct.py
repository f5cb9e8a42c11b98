"""Listener functions called directly, as bolt-python's starter template tests its listeners:
a recording `ack` and `respond` (the narrow seams Bolt would hand in), the real services over
the local PostHog, and a real WebClient on the fake Slack. The signed end-to-end contracts
through the Bolt app are in the other tests of this folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.context.context import BoltContext
from slack_sdk import WebClient

from bot.listeners.commands import handle_clusters_command
from bot.listeners.deferred import BUSY_MESSAGE
from bot.listeners.home import handle_app_home_opened
from bot.work import WorkPool
from standins.stack import ALERT_CHANNEL, BOT_TOKEN, Stack
from tests.support.alerting import load, make_world

USER = "U0DIRECT"


class Recorder:
    """Stands in for Bolt's `ack` or `respond`: keeps each call's keyword arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, text: str | None = None, **kwargs: Any) -> None:
        self.calls.append({"text": text, **kwargs})


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        load(running, make_world())
        yield running


def command(ack: Recorder, respond: Recorder, stack: Stack, text: str) -> None:
    services = stack.services
    handle_clusters_command(
        ack=ack,  # type: ignore[arg-type]
        body={"user_id": USER, "channel_id": ALERT_CHANNEL},
        command={"text": text, "user_id": USER, "channel_id": ALERT_CHANNEL},
        respond=respond,  # type: ignore[arg-type]
        client=WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url),
        context=BoltContext({"services": services, "respond": respond}),
        services=services,
    )


def settled(pool: WorkPool, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while pool.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    return pool.pending == 0


def test_the_command_acks_empty_then_answers_through_respond(stack: Stack) -> None:
    ack, respond = Recorder(), Recorder()
    command(ack, respond, stack, "latest trace")
    assert ack.calls == [{"text": None}]  # acked before any work, with nothing to show
    assert settled(stack.services.work)
    assert len(respond.calls) == 1
    answer = respond.calls[0]
    assert "Default - traces" in str(answer["blocks"]) or "Checkout assistant" in str(
        answer["blocks"]
    )
    assert answer["response_type"] == "ephemeral"


def test_a_full_pool_acks_with_an_honest_busy_reply(stack: Stack) -> None:
    stack.services.work = WorkPool(workers=1, queue_limit=0)
    assert stack.services.work.reserve()  # the only place is taken
    ack, respond = Recorder(), Recorder()
    command(ack, respond, stack, "latest")
    assert ack.calls == [{"text": BUSY_MESSAGE}]
    assert respond.calls == []
    stack.services.work.cancel()  # give the place back, so the stack closes without waiting


def test_opening_the_home_tab_publishes_it_and_the_messages_tab_does_not(stack: Stack) -> None:
    stack.user(USER, "direct")  # a member of the workspace, as Slack knows its users
    handle_app_home_opened({"user": USER, "tab": "messages"}, stack.services)
    assert settled(stack.services.work)
    assert USER not in stack.slack.home_views
    handle_app_home_opened({"user": USER, "tab": "home"}, stack.services)
    assert settled(stack.services.work)
    assert stack.slack.home_views[USER]["type"] == "home"
