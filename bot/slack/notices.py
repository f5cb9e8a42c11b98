"""Notices about delivery itself: a person learns which alert messages failed for good, and
why. Outside the outbox (best effort): the log and /metrics have the failures anyway."""

from __future__ import annotations

import logging

from bot.slack.errors import SlackWriteError, is_channel_problem
from bot.slack.writer import SlackWriter

logger = logging.getLogger(__name__)

NOTICE_EVENT = "clusters_bot_notice"  # the metadata event type of a notice


def tell_a_human(writer: SlackWriter, notice_channel: str | None, failed: list[str]) -> None:
    """One notice per channel for the messages of one drain that failed for good ("channel:
    reason" each): in the channel itself, or, when the channel is the problem, in the default
    alert channel `notice_channel`."""
    by_channel: dict[str, list[str]] = {}
    for failure in failed:
        channel, _, reason = failure.partition(": ")
        by_channel.setdefault(channel, []).append(reason)
    for channel, reasons in by_channel.items():
        unreachable = any(is_channel_problem(r) for r in reasons)
        where = notice_channel if unreachable else channel
        if where is None or (unreachable and where == channel):
            continue
        counts = ", ".join(f"{reasons.count(r)} × {r}" for r in sorted(set(reasons)))
        text = (
            f":warning: {len(reasons)} alert message(s) for <#{channel}> could not be "
            f"delivered ({counts}). `clusters-bot doctor` checks the setup."
        )
        metadata = {"event_type": NOTICE_EVENT, "event_payload": {"channel": channel}}
        try:
            writer.post(where, text, metadata=metadata)
        except SlackWriteError as error:
            logger.warning(
                "slack.outbox.notice_failed",
                extra={"channel": where, "error": repr(error.cause)[:300]},
            )
