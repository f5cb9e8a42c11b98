"""Signed requests straight into a Bolt app (``app.dispatch``), for tests that need an app built
with other services than the running stack's."""

from __future__ import annotations

from urllib.parse import urlencode

from slack_bolt import App, BoltRequest, BoltResponse

from sandbox.fake_slack import Message
from sandbox.slack_user import SlackUser


def dispatch_command(
    app: App, user: SlackUser, text: str, channel: str = "C0GENERAL"
) -> BoltResponse:
    body = urlencode(user.command_payload(text, channel=channel))
    return app.dispatch(BoltRequest(body=body, headers=_lower(user.signed_headers(body))))


def dispatch_click(app: App, user: SlackUser, message: Message, action_id: str) -> BoltResponse:
    body = user.click_body(message, action_id)
    return app.dispatch(BoltRequest(body=body, headers=_lower(user.signed_headers(body))))


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
