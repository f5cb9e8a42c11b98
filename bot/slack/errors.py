"""The one Slack error taxonomy: every write to Slack (the outbox, thread replies, uploads,
notices) sorts a failure into one of four classes here, and nowhere else keeps a list of codes.

    RETRY_LATER   nothing was posted; trying again later may work (429 `ratelimited`, and any
                  code not listed below, which the outbox retries up to its attempt limit)
    AMBIGUOUS     Slack may or may not have posted it (a 5xx, `internal_error`, `fatal_error`,
                  a dropped connection): the outbox looks the message up before sending again
    NEEDS_HUMAN   a person has to act (invite the bot to the channel): the outbox keeps
                  retrying for `CHANNEL_GRACE`, then fails the message and says so
    PERMANENT     trying again will not help (archived channel, bad blocks, revoked token,
                  missing scope): the message fails at once and a notice says why

Codes: https://api.slack.com/methods/chat.postMessage#errors and
https://api.slack.com/methods/files.completeUploadExternal#errors.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.error import HTTPError

from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class SlackErrorClass(StrEnum):
    RETRY_LATER = "retry_later"
    AMBIGUOUS = "ambiguous"
    NEEDS_HUMAN = "needs_human"
    PERMANENT = "permanent"


CHANNEL_GRACE = timedelta(hours=1)
"""How long a NEEDS_HUMAN failure is retried before the message fails (time to /invite)."""


@dataclass(frozen=True)
class _Code:
    cls: SlackErrorClass
    reason: str | None = None  # in words a channel member can act on (chart notices)
    answer: str | None = None  # the ephemeral reply when a command's answer hits it


_CODES: dict[str, _Code] = {
    # Slack says these may have posted the message.
    "internal_error": _Code(SlackErrorClass.AMBIGUOUS),
    "fatal_error": _Code(SlackErrorClass.AMBIGUOUS),
    # A person fixes these; for a private channel Slack answers channel_not_found to a
    # non-member, as for a channel that does not exist.
    "channel_not_found": _Code(
        SlackErrorClass.NEEDS_HUMAN,
        "the bot cannot see this channel",
        "I can't see this channel. For a private channel, invite me first.",
    ),
    "not_in_channel": _Code(
        SlackErrorClass.NEEDS_HUMAN,
        "the bot is not in this channel",
        "I'm not in this channel, so I can't post the answer here. "
        "Invite me with `/invite @clusters-bot` and try again.",
    ),
    # Trying again will not help.
    "is_archived": _Code(SlackErrorClass.PERMANENT, None, "This channel is archived."),
    "invalid_blocks": _Code(SlackErrorClass.PERMANENT),
    "invalid_auth": _Code(SlackErrorClass.PERMANENT, "Slack did not accept the bot token"),
    "account_inactive": _Code(SlackErrorClass.PERMANENT),
    "token_revoked": _Code(SlackErrorClass.PERMANENT),
    "missing_scope": _Code(
        SlackErrorClass.PERMANENT,
        "the Slack app lacks the files:write scope (add it and reinstall the app)",
    ),
    "msg_too_long": _Code(SlackErrorClass.PERMANENT),
    "no_text": _Code(SlackErrorClass.PERMANENT),
    "restricted_action": _Code(SlackErrorClass.PERMANENT),
    "file_uploads_disabled": _Code(
        SlackErrorClass.PERMANENT, "file uploads are turned off in this workspace"
    ),
    "not_allowed_token_type": _Code(SlackErrorClass.PERMANENT, "the bot token cannot upload files"),
    # The message a reply or an edit is for is gone (deleted); nothing was posted. A reply
    # that has another home moves there (bot/slack/drain.py); the rest fail.
    "thread_not_found": _Code(SlackErrorClass.PERMANENT),
    "message_not_found": _Code(SlackErrorClass.PERMANENT),
    # Slack asks us to wait (a 429); nothing was posted.
    "ratelimited": _Code(SlackErrorClass.RETRY_LATER, "Slack is rate limiting uploads right now"),
}


@dataclass(frozen=True)
class SlackFailure:
    """One failed Slack call, classified. `code` is Slack's error code, or the exception's
    type name when Slack never answered."""

    cls: SlackErrorClass
    code: str
    status: int | None = None  # the HTTP status, when Slack answered
    reason: str = "it could not be sent"

    @property
    def rate_limited(self) -> bool:
        """Slack answered 429: certain not to have posted, and the attempt does not count."""
        return self.status == 429

    @property
    def channel_problem(self) -> bool:
        return self.cls is SlackErrorClass.NEEDS_HUMAN


def error_code(error: SlackApiError) -> str:
    return str(error.response.get("error") or "unknown_error")


def classify(error: BaseException) -> SlackFailure:
    """Which class a failed Slack call falls in, and how to say why."""
    if isinstance(error, SlackApiError):
        code, status = error_code(error), int(error.response.status_code)
        known = _CODES.get(code)
        reason = known.reason if known is not None else None
        if status >= 500:  # says nothing certain of the post, whatever the code
            reason = reason or "Slack had a server error"
            return SlackFailure(SlackErrorClass.AMBIGUOUS, code, status, reason)
        reason = reason or f"Slack said {_safe(code)}"
        if known is not None:
            return SlackFailure(known.cls, code, status, reason)
        if status != 429:  # log what the taxonomy does not know yet, so it can grow
            logger.info("slack.error.unrecognised", extra={"error": code, "status": status})
        return SlackFailure(SlackErrorClass.RETRY_LATER, code, status, reason)
    name = type(error).__name__
    if isinstance(error, (SlackRequestError, HTTPError)):  # a file POST itself failed
        return SlackFailure(SlackErrorClass.AMBIGUOUS, name, None, "the upload to Slack failed")
    if isinstance(error, (SlackClientError, OSError)):
        return SlackFailure(SlackErrorClass.AMBIGUOUS, name, None, "Slack could not be reached")
    return SlackFailure(SlackErrorClass.AMBIGUOUS, name, None, "it could not be uploaded")


def is_channel_problem(code: str) -> bool:
    """Whether a stored error code (an outbox row's) is one a person fixes in the channel."""
    known = _CODES.get(code)
    return known is not None and known.cls is SlackErrorClass.NEEDS_HUMAN


def answer_for(error: BaseException) -> str | None:
    """The ephemeral reply for a command whose answer Slack refused; None when there is
    nothing a user can do (the error boundary gives an error id instead)."""
    if isinstance(error, SlackWriteError):
        error = error.cause
    if not isinstance(error, SlackApiError):
        return None
    known = _CODES.get(error_code(error))
    return known.answer if known else None


class SlackWriteError(Exception):
    """A write to Slack failed; `failure` says how (raised by bot/slack/writer.py)."""

    def __init__(self, failure: SlackFailure, cause: BaseException) -> None:
        super().__init__(f"{failure.code}: {cause}"[:300])
        self.failure = failure
        self.cause = cause


def _safe(code: str) -> str:
    return _UNSAFE.sub("_", code)[:60] or "no"
