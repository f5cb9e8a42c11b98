"""Ephemeral and in-channel replies through `response_url` (Bolt's `respond`), checked:
`respond()` returns Slack's refusal instead of raising it, so a used-up, expired or refused
reply would otherwise vanish."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Respond

if TYPE_CHECKING:  # for its type only: it imports the store and its migrations
    from bot.observability import Metrics

logger = logging.getLogger(__name__)


def send(respond: Respond | None, metrics: Metrics | None, **kwargs: Any) -> bool:
    """`respond(**kwargs)` (ephemeral unless said otherwise), checked: Slack answers a used-up,
    expired or refused `response_url` with an HTTP error that `respond()` only returns
    (`used_url`, `expired_url`, `invalid_blocks`). Logged and counted; True when delivered."""
    if respond is None:
        logger.warning("slack.respond.failed", extra={"status": None, "error": "no_response_url"})
        return False
    kwargs.setdefault("response_type", "ephemeral")
    response = respond(**kwargs)
    status = getattr(response, "status_code", 200)
    if status == 200:
        return True
    error = str(getattr(response, "body", "") or f"http_{status}").strip()[:100]
    if metrics is not None:
        metrics.respond_failures.labels(error).inc()
    logger.warning("slack.respond.failed", extra={"status": status, "error": error})
    return False
