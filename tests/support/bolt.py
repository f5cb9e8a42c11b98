"""Signed requests straight into a Bolt app (``app.dispatch``), for tests that need an app built
with other services than the running stack's, or a request body they shaped themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from slack_bolt import App, BoltRequest, BoltResponse

from standins.slack.server import Message
from standins.slack.user import SlackUser


def dispatch_signed(app: App, user: SlackUser, body: str) -> BoltResponse:
    headers = {name.lower(): value for name, value in user.signed_headers(body).items()}
    return app.dispatch(BoltRequest(body=body, headers=headers))


def dispatch_command(
    app: App, user: SlackUser, text: str, channel: str = "C0GENERAL"
) -> BoltResponse:
    return dispatch_signed(app, user, urlencode(user.command_payload(text, channel=channel)))


def dispatch_click(app: App, user: SlackUser, message: Message, action_id: str) -> BoltResponse:
    return dispatch_signed(app, user, user.click_body(message, action_id))


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False), for state
    that has no change notification (log records, metrics, another process's database)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
