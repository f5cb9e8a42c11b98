"""The one error boundary: known failures become a helpful ephemeral reply; anything else a
reply with an error id that is also in the log. A modal submission has no reply channel: its
answer is the HTTP response, so the modal shows the failure (`response_action: errors` under its
first field) instead of closing as if it had been saved."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.context.context import BoltContext

from bot.posthog.errors import (
    PostHogAuthError,
    PostHogBadQuery,
    PostHogBudgetExhausted,
    PostHogNotFound,
    PostHogRateLimited,
    PostHogUnavailable,
)
from bot.rendering.message import Message
from bot.rendering.views import notice_modal
from bot.services.errors import CommandError
from bot.slack.errors import answer_for
from bot.slack.escape import escape_mrkdwn
from bot.slack.replies import send

logger = logging.getLogger(__name__)

SUBMISSION_ERROR_MAX = 300  # a field's error is a line under it, not a report


def user_message(error: Exception) -> str | None:
    """What to tell the user about a known failure; None for a bug."""
    if isinstance(error, CommandError | PostHogNotFound):
        return str(error)
    if isinstance(error, PostHogBudgetExhausted | PostHogBadQuery):
        return str(error)  # worded for the user: which budget, or what PostHog said
    if isinstance(error, PostHogRateLimited):
        wait = f" Try again in {error.retry_after:.0f} s." if error.retry_after else ""
        return f"PostHog is rate limiting the bot's queries right now.{wait}"
    if isinstance(error, PostHogUnavailable):
        return (
            f"PostHog is not answering right now ({error}). "
            "I tried a few times; try again in a minute."
        )
    if isinstance(error, PostHogAuthError):
        return (
            "PostHog refused the bot's API key. "
            "Whoever runs the bot can check it with `clusters-bot doctor`."
        )
    return answer_for(error)  # Slack refused to post the answer


def handle_error(error: Exception, body: dict[str, Any], context: BoltContext) -> BoltResponse:
    text = user_message(error)
    services = context.get("services")
    error_id = None
    if text is not None:
        logger.info("slack.request.refused", extra={"reason": text[:200]})
        message = services.renderer.error(text) if services else Message(escape_mrkdwn(text))
    else:
        error_id = uuid.uuid4().hex[:10]
        logger.exception("slack.request.failed", extra={"error_id": error_id}, exc_info=error)
        generic = "Something went wrong while answering."
        message = services.renderer.error(generic, error_id) if services else Message(text=generic)
    if body.get("type") == "view_submission":
        return _submission_failed(body.get("view") or {}, text, error_id)
    respond = context.respond
    if respond is not None and body.get("response_url"):
        try:
            metrics = services.metrics if services is not None else None
            send(respond, metrics, **message.as_kwargs(), replace_original=False)
        except Exception:  # the reply channel itself failed; the log has the error
            logger.exception("slack.error_reply.failed")
    return BoltResponse(status=200, body="")


def _submission_failed(
    view: dict[str, Any], text: str | None, error_id: str | None
) -> BoltResponse:
    """The modal stays open and says what went wrong: under its first input (the person's
    entries are kept, to try again), or, in a modal without inputs, as the modal itself."""
    problem = text or f"Something went wrong while saving (error id {error_id}). Try again."
    problem = problem[:SUBMISSION_ERROR_MAX]
    inputs = [b["block_id"] for b in view.get("blocks") or [] if b.get("type") == "input"]
    if inputs:
        answer: dict[str, Any] = {"response_action": "errors", "errors": {inputs[0]: problem}}
    else:
        answer = {"response_action": "update", "view": notice_modal("Not saved", problem)}
    return BoltResponse(
        status=200, body=json.dumps(answer), headers={"content-type": "application/json"}
    )
