"""The interactive client's retries against the fake Slack: a 429 is waited out (Slack did
nothing), but a 5xx or a dropped connection after Slack posted is not repeated for a call that
creates something, so a thread reply is never posted twice; calls safe to repeat still are."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers

from bot.slack.client import make_web_client, safe_to_repeat
from bot.slack.errors import SlackWriteError
from bot.slack.writer import SlackWriter
from standins.slack.server import FakeSlack

CHANNEL = "C0GENERAL"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    monkeypatch.setattr(builtin_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    with FakeSlack() as fake:
        yield fake


def thread_of(slack: FakeSlack) -> tuple[SlackWriter, str]:
    writer = SlackWriter(make_web_client(slack.bot_token, slack.api_url, interactive=True))
    return writer, writer.post(CHANNEL, "parent")


@pytest.mark.parametrize("drop", [False, True], ids=["5xx", "dropped"])
def test_a_reply_slack_posted_before_failing_is_not_posted_again(
    slack: FakeSlack, drop: bool
) -> None:
    writer, parent = thread_of(slack)
    slack.faults.add("chat.postMessage", status=500, after=True, drop_connection=drop)
    with pytest.raises(SlackWriteError):
        writer.reply_in_thread(CHANNEL, parent, "traces")
    assert [m.text for m in slack.thread(CHANNEL, parent)] == ["traces"]  # once: no retry


def test_a_rate_limited_reply_is_retried_and_posted_once(slack: FakeSlack) -> None:
    writer, parent = thread_of(slack)
    slack.faults.add("chat.postMessage", status=429, retry_after=0)
    writer.reply_in_thread(CHANNEL, parent, "traces")
    assert [m.text for m in slack.thread(CHANNEL, parent)] == ["traces"]


def test_calls_safe_to_repeat_are_still_retried_after_a_5xx(slack: FakeSlack) -> None:
    client = make_web_client(slack.bot_token, slack.api_url, interactive=True)
    ts = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    slack.faults.add("chat.update", status=503, after=True)
    slack.faults.add("conversations.info", status=500)
    assert client.chat_update(channel=CHANNEL, ts=ts, text="edited")["ok"]
    assert client.conversations_info(channel=CHANNEL)["ok"]
    assert [m.text for m in slack.messages(CHANNEL)] == ["edited"]


def test_slack_s_own_errors_are_never_retried(slack: FakeSlack) -> None:
    client = make_web_client(slack.bot_token, slack.api_url, interactive=True)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOWHERE", text="x")
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("method", "safe"),
    [
        ("chat.postMessage", False),
        ("chat.postEphemeral", False),
        ("files.completeUploadExternal", False),
        ("views.open", False),
        ("chat.update", True),
        ("views.publish", True),
        ("conversations.replies", True),
        ("users.info", True),
    ],
)
def test_which_calls_are_safe_to_repeat(method: str, safe: bool) -> None:
    assert safe_to_repeat(method) is safe
