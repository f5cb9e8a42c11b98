"""`respond()` returns Slack's refusal instead of raising it: a reply through a used-up or
expired response_url must be logged and counted, not vanish."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
from slack_bolt import Respond

from bot.observability import Metrics
from bot.slack.replies import send
from standins.slack.server import Message
from standins.stack import Stack
from tests.support.bolt import dispatch_signed, wait_until

Ask = Callable[..., Message]


def failures(stack: Stack, error: str) -> float:
    prefix = f'clusters_bot_respond_failures_total{{error="{error}"}} '
    for line in stack.services.metrics.render().decode().splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def traces_click(stack: Stack, ask: Ask, user_id: str) -> tuple[str, str]:
    """A click on Traces of an ephemeral summary (answered through response_url): its body
    and response_url."""
    summary = ask("latest")
    button = next(b["accessory"]["action_id"] for b in summary.blocks if b.get("accessory"))
    body = stack.user(user_id).click_body(summary, button)
    payload = json.loads(parse_qs(body)["payload"][0])
    return body, payload["response_url"]


def test_a_used_up_response_url_is_logged_and_counted(
    stack: Stack, ask: Ask, caplog: pytest.LogCaptureFixture
) -> None:
    body, url = traces_click(stack, ask, "U0USED")
    for i in range(5):  # Slack allows five replies per response_url
        assert stack.slack.respond(url, {"text": f"reply {i}"}) == 200
    before = failures(stack, "used_url")
    with caplog.at_level(logging.WARNING, logger="bot.listeners.replies"):
        assert dispatch_signed(stack.app, stack.user("U0USED"), body).status == 200
        assert wait_until(lambda: failures(stack, "used_url") == before + 1, 20)
    assert any(r.getMessage() == "slack.respond.failed" for r in caplog.records)


def test_an_expired_response_url_is_logged_and_counted(stack: Stack, ask: Ask) -> None:
    body, _url = traces_click(stack, ask, "U0EXPIRED")
    before = failures(stack, "expired_url")
    stack.slack.clock = lambda: time.time() + 31 * 60  # half an hour later
    try:
        assert dispatch_signed(stack.app, stack.user("U0EXPIRED"), body).status == 200
        assert wait_until(lambda: failures(stack, "expired_url") == before + 1, 20)
    finally:
        stack.slack.clock = time.time


def test_a_refused_reply_is_counted_by_slacks_answer(stack: Stack) -> None:
    """Whatever Slack refuses through a response_url (here invalid_blocks, HTTP 400) is
    returned by `respond()`, not raised: `send` reports it."""
    metrics = Metrics()
    respond = Respond(response_url=stack.slack.response_url("C0GENERAL", "U0REFUSED"))
    empty_header = {"type": "header", "text": {"type": "plain_text", "text": ""}}
    assert send(respond, metrics, text="x", blocks=[empty_header]) is False
    assert send(respond, metrics, text="fine") is True
    rendered = metrics.render().decode()
    assert 'clusters_bot_respond_failures_total{error="invalid_blocks"} 1.0' in rendered
