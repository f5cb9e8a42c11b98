"""Ack now, answer from the work pool (bot/work.py), or say honestly that the bot is busy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_bolt.context.context import BoltContext

from bot.listeners.errors import handle_error
from bot.slack.replies import send

logger = logging.getLogger(__name__)

BUSY_MESSAGE = (
    "I'm answering a lot of questions right now and can't take this one. "
    "Please try again in a minute."
)


def after_ack(
    ack: Ack,
    body: dict[str, Any],
    context: BoltContext,
    work: Callable[[], None],
    *,
    command: bool,
) -> None:
    """Ack within Slack's 3 s and run `work` on the pool, or say honestly that the bot is busy.

    Errors in `work` go to the same boundary as errors in a listener (`handle_error`).
    """
    services = context["services"]
    if not services.work.reserve():
        services.metrics.busy_replies.inc()
        logger.warning("slack.request.busy", extra={"pending": services.work.pending})
        if command:
            ack(text=BUSY_MESSAGE)  # a slash command's ack body is shown to the user
        else:
            ack()  # an action's ack body is ignored by Slack
            send(context.respond, services.metrics, text=BUSY_MESSAGE, replace_original=False)
        return
    ack()

    def guarded() -> None:
        try:
            work()
        except Exception as error:
            handle_error(error, body, context)

    services.work.submit(guarded)
