"""Writes to what one person sees outside channels: the Home tab (`views.publish`), modals
(`views.open`, `views.update`) and link unfurls (`chat.unfurl`).

These answer a person's own action, through the client Bolt hands the listener, and are not
paced per channel. A failure raises `SlackWriteError`, classified once by bot/slack/errors.py,
as every other write does (bot/slack/writer.py).
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.slack.errors import SlackWriteError, classify


def publish_home(client: WebClient, user: str, view: dict[str, Any]) -> None:
    try:
        client.views_publish(user_id=user, view=view)
    except (SlackClientError, OSError) as error:
        raise SlackWriteError(classify(error), error) from error


def open_modal(client: WebClient, trigger_id: str, view: dict[str, Any]) -> tuple[str, str]:
    """Open `view` (a trigger_id is good for 3 s, once); returns its id and hash, which
    `update_modal` needs."""
    try:
        opened = client.views_open(trigger_id=trigger_id, view=view)
    except (SlackClientError, OSError) as error:
        raise SlackWriteError(classify(error), error) from error
    return str(opened["view"]["id"]), str(opened["view"]["hash"])


def update_modal(client: WebClient, view_id: str, view_hash: str, view: dict[str, Any]) -> None:
    """Replace an open modal; Slack refuses (`hash_conflict`) when it changed since `view_hash`."""
    try:
        client.views_update(view_id=view_id, hash=view_hash, view=view)
    except (SlackClientError, OSError) as error:
        raise SlackWriteError(classify(error), error) from error


def unfurl(client: WebClient, unfurls: dict[str, Any], event: dict[str, Any]) -> None:
    """Attach `unfurls` (url → attachment) to the message a `link_shared` event is about: one
    already posted (`channel` and `message_ts`), or one still in the composer (`unfurl_id`)."""
    try:
        if event.get("source") == "composer" and event.get("unfurl_id"):
            client.chat_unfurl(
                unfurls=unfurls, source=event["source"], unfurl_id=event["unfurl_id"]
            )
        else:
            client.chat_unfurl(unfurls=unfurls, channel=event["channel"], ts=event["message_ts"])
    except (SlackClientError, OSError) as error:
        raise SlackWriteError(classify(error), error) from error
