"""A simulated Slack user: sends real, signed requests to a Bolt app in HTTP mode, as Slack does.

Slash commands go as a form-encoded body, button clicks as ``payload=<json>``, both signed with
v0 HMAC (reference/slack.md A5, A6, A11). Response URLs come from the ``FakeSlack`` the app
talks to, so ``respond()`` lands there; a slash command's ack body is shown there too.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from standins.slack.server import FakeSlack, Message


class SlackUser:
    """One workspace member; ``events_url`` is the app's Request URL (e.g. …/slack/events)."""

    def __init__(
        self,
        *,
        events_url: str,
        signing_secret: str,
        fake: FakeSlack,
        user_id: str = "U0ALICE",
        user_name: str = "alice",
        team_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.events_url, self.fake = events_url, fake
        self.user_id, self.user_name = user_id, user_name
        self.team_id = team_id or fake.team_id
        self.timeout = timeout
        self._verifier = SignatureVerifier(signing_secret)
        fake.add_user(user_id, user_name)

    # -- slash commands --------------------------------------------------------------------
    def command_payload(
        self, text: str, *, channel: str = "C0GENERAL", command: str = "/clusters"
    ) -> dict[str, str]:
        """The fields Slack sends for a slash command, in Slack's order."""
        known = self.fake.channels.get(channel)
        return {
            "token": "sandbox-verification-token",  # deprecated by Slack; Bolt ignores it
            "team_id": self.team_id,
            "team_domain": self.fake.team_domain,
            "channel_id": channel,
            "channel_name": known.name if known else "privategroup",
            "user_id": self.user_id,
            "user_name": self.user_name,
            "command": command,
            "text": text,
            "api_app_id": self.fake.app_id,
            "is_enterprise_install": "false",
            "response_url": self.fake.response_url(channel, self.user_id),
            "trigger_id": self._trigger_id(),
        }

    def command(
        self,
        text: str,
        *,
        channel: str = "C0GENERAL",
        command: str = "/clusters",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """Type ``/clusters <text>`` in ``channel``; returns the app's HTTP response.

        Like Slack, a 200 with a body (``ack("…")``) is shown to the user: it becomes an
        ephemeral (or ``in_channel``) message in the fake once the response arrives, so a
        ``respond()`` the listener sends right after ``ack`` may be recorded first.
        ``timestamp``/``signature`` override the signing headers, to test stale or forged
        requests.
        """
        payload = self.command_payload(text, channel=channel, command=command)
        response = self._post(urlencode(payload), timestamp, signature)
        if response.status_code == 200 and response.content:
            is_json = response.headers.get("content-type", "").startswith("application/json")
            body = response.json() if is_json else {"text": response.text}
            self.fake.respond(payload["response_url"], body, counts=False)
        return response

    def socket_mode_envelope(
        self, text: str, *, channel: str = "C0GENERAL", command: str = "/clusters"
    ) -> dict[str, Any]:
        """What Slack sends over Socket Mode for a slash command (no signature there)."""
        return {
            "envelope_id": str(uuid.uuid4()),
            "type": "slash_commands",
            "payload": self.command_payload(text, channel=channel, command=command),
            "accepts_response_payload": True,
        }

    # -- interactivity ---------------------------------------------------------------------
    def click(
        self,
        message: Message,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        """Click the button ``action_id`` on ``message`` (a block_actions payload).

        Raises LookupError if the message has no such button (in ``block_id``, when given).
        """
        body = self.click_body(message, action_id, value=value, block_id=block_id)
        return self._post(body, None, None)

    def click_body(
        self,
        message: Message,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str | None = None,
    ) -> str:
        """The form-encoded body Slack sends for that click (see ``click``)."""
        found_block, button = _find_button(message.blocks, action_id, block_id)
        channel = self.fake.channels.get(message.channel)
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": message.ephemeral_for is not None,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        response_url = self.fake.response_url(
            message.channel, self.user_id, message.thread_ts, message_ts=message.ts
        )
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": self.user_id, "username": self.user_name, "team_id": self.team_id},
            "api_app_id": self.fake.app_id,
            "token": "sandbox-verification-token",
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.fake.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": channel.name if channel else "privategroup"},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": found_block,
                    "text": button.get("text", {}),
                    "value": value if value is not None else button.get("value"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if message.ephemeral_for is None:  # Slack omits `message` for ephemeral messages
            payload["message"] = message.to_dict()
        return urlencode({"payload": json.dumps(payload)})

    # -- signing and transport -------------------------------------------------------------
    def signed_headers(
        self, body: str, timestamp: int | None = None, signature: str | None = None
    ) -> dict[str, str]:
        """The headers Slack sends with ``body``: content type and the v0 signature."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            signature = self._verifier.generate_signature(timestamp=ts, body=body) or ""
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def _post(self, body: str, timestamp: int | None, signature: str | None) -> httpx.Response:
        headers = self.signed_headers(body, timestamp, signature)
        return httpx.post(
            self.events_url, content=body.encode(), headers=headers, timeout=self.timeout
        )

    def _trigger_id(self) -> str:
        return self.fake.issue_trigger(self.user_id)  # views.open accepts only issued ones


def _find_button(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None
) -> tuple[str, dict[str, Any]]:
    """(block_id, button) for the first button with ``action_id``, in actions or accessories."""
    for index, block in enumerate(blocks):
        if block_id is not None and block.get("block_id") != block_id:
            continue
        elements = list(block.get("elements") or [])
        if block.get("accessory"):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return str(block.get("block_id") or f"sbx{index}"), element  # Slack fills ids
    raise LookupError(f"no button with action_id={action_id!r} in the message")
