"""Block Kit building blocks as plain dicts, and the one exit that enforces Slack's limits.

The escaping boundary (bot/slack/escape.py): a mrkdwn text given as plain ``str`` is escaped
here, once; ``SafeMrkdwn`` (templates' output, ``md``, ``link``) is the bot's own and kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.rendering.message import Message
from bot.slack.escape import (
    BUTTON_TEXT_MAX,
    HEADER_TEXT_MAX,
    clean_inline,
    enforce_limits,
    escape_mrkdwn,
)
from bot.slack.ids import ActionId

Block = dict[str, Any]


def header(text: str) -> Block:
    """Headers are plain_text: no mrkdwn, so no escaping, only length and newlines."""
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clean_inline(text, HEADER_TEXT_MAX), "emoji": True},
    }


def mrkdwn(text: str) -> Block:
    """A mrkdwn text object (a plain `text` escaped, `SafeMrkdwn` kept) with `verbatim`:
    Slack then does not turn bare URLs, `#channel` names or `@name`s into links and mentions.
    Most texts quote LLM-written titles or trace content, so every one is verbatim; the bot's
    own `<url|label>` links and `<@U…>` mentions are explicit syntax and keep working (https://docs.slack.dev/reference/block-kit/
    composition-objects/text-object)."""
    return {"type": "mrkdwn", "text": str(escape_mrkdwn(text)), "verbatim": True}


def section(text: str, *, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory:
        block["accessory"] = accessory
    return block


def fields(*texts: str) -> Block:
    return {"type": "section", "fields": [mrkdwn(t) for t in texts]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts if t]}


def button(
    text: str,
    action_id: ActionId,
    *,
    value: BaseModel | None = None,
    url: str | None = None,
    style: str | None = None,
    suffix: str = "",
) -> Block:
    """`suffix` keeps action ids unique within a message (Slack requires it)."""
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clean_inline(text, BUTTON_TEXT_MAX), "emoji": True},
        "action_id": f"{action_id.value}{suffix}",
    }
    if value is not None:
        element["value"] = value.model_dump_json(exclude_none=True)
    if url:
        element["url"] = url
    if style:
        element["style"] = style
    return element


def actions(*elements: Block) -> Block:
    return {"type": "actions", "elements": list(elements)}


BLANK_FALLBACK = "A message from clusters-bot"


def finish(blocks: list[Block], text: str) -> Message:
    """The last step of every renderer: blocks truncated to Slack's limits, with fallback text.
    (A few short notices are built without it: the error handler's reply when no services are
    up, the mute note in `listeners/actions.py`, the chart notices and doctor's test message.)

    Slack reads the fallback as mrkdwn in notifications: a plain `text` (it may quote titles
    or user input) is escaped here, once; a `SafeMrkdwn` one (the fallback of a message
    rendered before, as `parent_closed` reuses) is kept as it is.
    """
    if not text.strip():  # notifications and screen readers show nothing without one
        text = BLANK_FALLBACK
    safe_blocks, safe_text = enforce_limits(blocks, fallback_text=escape_mrkdwn(text))
    return Message(text=safe_text, blocks=safe_blocks)
