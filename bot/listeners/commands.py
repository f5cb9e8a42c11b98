"""The `/clusters` slash command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond
from slack_bolt.context.context import BoltContext
from slack_sdk import WebClient

from bot.commands import parse_clusters_command
from bot.commands.handlers import Asker
from bot.listeners.answer import answer
from bot.listeners.deferred import after_ack
from bot.slack.replies import send

if TYPE_CHECKING:  # the composition root, for its type only: importing it pulls in every
    # service and its libraries (matplotlib, alembic)
    from bot.wiring import Services


def handle_clusters_command(
    ack: Ack,
    body: dict[str, Any],
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    services: Services,
) -> None:
    text = command.get("text") or ""

    def work() -> None:  # after the ack; the answer follows via response_url
        parsed = parse_clusters_command(text)
        with services.metrics.command_seconds.labels(parsed.name).time():
            asker = Asker(channel=command["channel_id"], user=command["user_id"], text=text)
            message = answer(parsed, asker, services, client)
            send(respond, services.metrics, **message.as_kwargs())

    after_ack(ack, body, context, work, command=True)
