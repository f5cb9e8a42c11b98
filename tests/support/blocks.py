"""Helpers for looking inside rendered Block Kit."""

from __future__ import annotations

from standins.slack.server import Message


def mrkdwn_texts(node: object) -> list[str]:
    """Every mrkdwn text in a block tree: what Slack parses for mentions and links
    (plain_text, as in headers and buttons, is shown as it is)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(str(node.get("text")))
        for value in node.values():
            found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += mrkdwn_texts(value)
    return found


def mrkdwn_objects(node: object) -> list[dict[str, object]]:
    """Every mrkdwn text object in a block tree, whole (to check flags such as `verbatim`)."""
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(node)
        for value in node.values():
            found += mrkdwn_objects(value)
    elif isinstance(node, list):
        for value in node:
            found += mrkdwn_objects(value)
    return found


def all_text(message: Message) -> str:
    """A message's fallback text and every text and url in its blocks, one per line."""
    parts = [message.text]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("text", "url") and isinstance(value, str):
                    parts.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.blocks)
    return "\n".join(parts)
