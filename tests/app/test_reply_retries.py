"""A click's thread reply meets a Slack outage, end to end through the real Bolt app and the
fake Slack: Slack posted the reply and then failed (5xx, or the connection dropped), so the
bot must not post it again; a 429 (Slack posted nothing) is waited out and posted once."""

from __future__ import annotations

import pytest

from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from tests.app.test_interactions import Ask, share_latest


def click_traces(stack: Stack, message: Message, user: str) -> None:
    button = next(b["accessory"]["action_id"] for b in message.blocks if b.get("accessory"))
    assert stack.user(user).click(message, button).status_code == 200


@pytest.mark.parametrize("drop", [False, True], ids=["5xx", "dropped"])
def test_a_reply_slack_posted_before_an_outage_is_in_the_thread_once(
    stack: Stack, ask: Ask, drop: bool
) -> None:
    message = share_latest(stack, ask)
    stack.slack.faults.add("chat.postMessage", status=503, after=True, drop_connection=drop)
    click_traces(stack, message, "U0OUTAGE")
    assert stack.slack.wait_for(lambda: bool(stack.slack.thread(ALERT_CHANNEL, message.ts)), 20)
    # the listener has finished once the clicker heard about the failure
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0OUTAGE" for m in stack.slack.messages(ALERT_CHANNEL)),
        20,
    )
    replies = stack.slack.thread(ALERT_CHANNEL, message.ts)
    assert len(replies) == 1 and "most representative" in str(replies[0].blocks)


def test_a_rate_limited_reply_is_waited_out_and_posted_once(stack: Stack, ask: Ask) -> None:
    message = share_latest(stack, ask)
    stack.slack.faults.add("chat.postMessage", status=429, retry_after=0)
    click_traces(stack, message, "U0LIMITED")
    assert stack.slack.wait_for(lambda: bool(stack.slack.thread(ALERT_CHANNEL, message.ts)), 20)
    calls = [c for c in stack.slack.calls_to("chat.postMessage") if c.status == 429]
    assert calls and len(stack.slack.thread(ALERT_CHANNEL, message.ts)) == 1
