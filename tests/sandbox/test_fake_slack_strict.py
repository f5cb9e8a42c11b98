"""The fake Slack refuses what Slack refuses: scopes, membership, empty texts, response_url
limits, ok:false faults with HTTP 200, and oversized requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from standins.slack.model import manifest_scopes
from standins.slack.server import FakeSlack

NOW = [1_000_000.0]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    NOW[0] = 1_000_000.0
    with FakeSlack(clock=lambda: NOW[0]) as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=5, retry_handlers=[])


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as exc:
        call()
    return dict(exc.value.response.data)  # type: ignore[arg-type]


def test_the_bot_token_holds_the_manifest_scopes_and_slack_names_them(
    fake: FakeSlack, client: WebClient
) -> None:
    assert fake.scopes() == manifest_scopes() and "chat:write" in fake.scopes()
    header = client.auth_test().headers["X-OAuth-Scopes"]
    assert set(header.split(",")) == set(manifest_scopes())


def test_missing_scope_names_needed_and_provided(fake: FakeSlack, client: WebClient) -> None:
    fake.set_scopes(["chat:write", "commands"])
    error = error_of(lambda: client.users_info(user="U0ALICE"))
    assert error["error"] == "missing_scope"
    assert (error["needed"], error["provided"]) == ("users:read", "chat:write,commands")
    assert error_of(lambda: client.conversations_join(channel="C0ALERTS"))["needed"] == (
        "channels:join"
    )


def test_public_channel_the_bot_is_not_in(fake: FakeSlack, client: WebClient) -> None:
    fake.create_channel("outside", id="C0OUT", member=False)
    assert error_of(lambda: client.chat_postMessage(channel="C0OUT", text="x"))["error"] == (
        "not_in_channel"
    )
    assert error_of(lambda: client.conversations_history(channel="C0OUT"))["error"] == (
        "not_in_channel"
    )
    assert client.conversations_info(channel="C0OUT")["channel"]["is_member"] is False
    assert client.conversations_join(channel="C0OUT")["channel"]["is_member"] is True
    client.chat_postMessage(channel="C0OUT", text="now in")
    assert [m["text"] for m in client.conversations_history(channel="C0OUT")["messages"]] == [
        "now in"
    ]


def test_chat_write_public_posts_without_membership_but_reads_nothing(fake: FakeSlack) -> None:
    fake.set_scopes([*manifest_scopes(), "chat:write.public"])
    client = WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    fake.create_channel("outside", id="C0OUT", member=False)
    client.chat_postMessage(channel="C0OUT", text="posted")
    assert error_of(lambda: client.conversations_history(channel="C0OUT"))["error"] == (
        "not_in_channel"
    )


def test_private_channel_the_bot_is_not_in_does_not_exist_for_it(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.create_channel("secret", id="G0SECRET", member=False, private=True)
    calls = [
        lambda: client.chat_postMessage(channel="G0SECRET", text="x"),
        lambda: client.conversations_info(channel="G0SECRET"),
        lambda: client.conversations_history(channel="G0SECRET"),
        lambda: client.conversations_join(channel="G0SECRET"),
    ]
    assert [error_of(call)["error"] for call in calls] == ["channel_not_found"] * 4
    fake.set_member("G0SECRET")  # /invite @clusters-bot
    assert client.conversations_info(channel="G0SECRET")["channel"]["is_private"] is True
    client.chat_postMessage(channel="G0SECRET", text="hello")
    assert error_of(lambda: client.conversations_join(channel="G0SECRET"))["error"] == (
        "method_not_supported_for_channel_type"
    )


def test_chat_update_needs_chat_write_and_a_channel_the_bot_can_see(
    fake: FakeSlack, client: WebClient
) -> None:
    """What the outbox's chat.update of a closed alert's parent meets in Slack."""
    fake.create_channel("secret", id="G0SECRET", member=True, private=True)
    ts = str(client.chat_postMessage(channel="G0SECRET", text="alert")["ts"])
    assert client.chat_update(channel="G0SECRET", ts=ts, text="alert, closed")["ok"] is True
    assert [m.text for m in fake.messages("G0SECRET")] == ["alert, closed"]
    fake.set_member("G0SECRET", False)  # removed from the private channel
    assert (
        error_of(lambda: client.chat_update(channel="G0SECRET", ts=ts, text="again"))["error"]
        == "channel_not_found"
    )
    fake.set_member("G0SECRET")
    fake.set_scopes(sorted(manifest_scopes() - {"chat:write"}))
    error = error_of(lambda: client.chat_update(channel="G0SECRET", ts=ts, text="again"))
    assert (error["error"], error["needed"]) == ("missing_scope", "chat:write")
    assert [m.text for m in fake.messages("G0SECRET")] == ["alert, closed"]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "header", "text": {"type": "plain_text", "text": ""}},
        {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
        {"type": "section"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": ""}]},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": ""}}
            ],
        },
    ],
)
def test_empty_texts_are_invalid_blocks(client: WebClient, block: dict[str, Any]) -> None:
    error = error_of(lambda: client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[block]))
    assert error["error"] == "invalid_blocks" and "more than 0 characters" in error["errors"][0]


def test_a_message_with_neither_text_nor_blocks_is_no_text(client: WebClient) -> None:
    call = lambda: client.api_call("chat.postMessage", json={"channel": "C0ALERTS"})  # noqa: E731
    assert error_of(call)["error"] == "no_text"


def test_response_url_expires_after_thirty_minutes(fake: FakeSlack) -> None:
    hook = WebhookClient(fake.response_url("C0GENERAL", "U0ALICE"))
    assert hook.send(text="in time").status_code == 200
    NOW[0] += 30 * 60 + 1
    late = hook.send(text="too late")
    assert (late.status_code, late.body) == (404, "expired_url")
    assert [m.text for m in fake.messages("C0GENERAL")] == ["in time"]


def test_internal_error_after_the_message_was_stored(fake: FakeSlack, client: WebClient) -> None:
    fake.faults.add("chat.postMessage", error="internal_error", after=True)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0ALERTS", text="maybe")
    assert (exc.value.response.status_code, exc.value.response["error"]) == (200, "internal_error")
    assert [m.text for m in fake.messages("C0ALERTS")] == ["maybe"]  # posted all the same


def test_fatal_error_is_http_200_not_ok(fake: FakeSlack, client: WebClient) -> None:
    fake.faults.add("chat.postMessage", error="fatal_error")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0ALERTS", text="x")
    assert (exc.value.response.status_code, exc.value.response["error"]) == (200, "fatal_error")


def test_requests_over_one_mebibyte_get_413(fake: FakeSlack) -> None:
    body = json.dumps({"channel": "C0ALERTS", "text": "x" * (1024 * 1024)})
    response = httpx.post(
        fake.api_url + "chat.postMessage",
        content=body,
        headers={"Authorization": f"Bearer {fake.bot_token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert fake.messages("C0ALERTS") == []
