"""The `/clusters` slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.commands import parse_clusters_command
from bot.listeners.answer import Asker, answer
from bot.wiring import Services


def handle_clusters_command(
    ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient, services: Services
) -> None:
    ack()  # within Slack's 3 s, before any PostHog work; the answer follows via response_url
    text = command.get("text") or ""
    parsed = parse_clusters_command(text)
    with services.metrics.command_seconds.labels(parsed.name).time():
        asker = Asker(channel=command["channel_id"], user=command["user_id"], text=text)
        message = answer(parsed, asker, services, client)
        respond(**message.as_kwargs(), response_type="ephemeral")
