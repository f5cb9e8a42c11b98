"""The Slack error taxonomy: each code falls in one class, whatever write met it."""

from __future__ import annotations

from urllib.error import HTTPError

import pytest
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.web import SlackResponse

from bot.slack.errors import SlackErrorClass, answer_for, classify, is_channel_problem


def api_error(code: str, status: int = 200) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": code},
        headers={},
        status_code=status,
    )
    return SlackApiError(code, response)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ratelimited", 429, SlackErrorClass.RETRY_LATER),
        ("internal_error", 200, SlackErrorClass.AMBIGUOUS),
        ("fatal_error", 200, SlackErrorClass.AMBIGUOUS),
        ("service_unavailable", 503, SlackErrorClass.AMBIGUOUS),
        ("channel_not_found", 200, SlackErrorClass.NEEDS_HUMAN),
        ("not_in_channel", 200, SlackErrorClass.NEEDS_HUMAN),
        ("is_archived", 200, SlackErrorClass.PERMANENT),
        ("missing_scope", 200, SlackErrorClass.PERMANENT),
        ("token_revoked", 200, SlackErrorClass.PERMANENT),
        ("something_new", 200, SlackErrorClass.RETRY_LATER),  # retried up to the attempt limit
    ],
)
def test_each_code_falls_in_one_class(code: str, status: int, expected: SlackErrorClass) -> None:
    failure = classify(api_error(code, status))
    assert (failure.cls, failure.code, failure.status) == (expected, code, status)


def test_only_a_429_is_rate_limited() -> None:
    assert classify(api_error("ratelimited", 429)).rate_limited
    assert not classify(api_error("something_new")).rate_limited


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (SlackRequestError("upload POST failed"), "the upload to Slack failed"),
        (
            HTTPError("https://files.slack.test", 500, "boom", None, None),
            "the upload to Slack failed",
        ),  # type: ignore[arg-type]
        (SlackClientError("connection reset"), "Slack could not be reached"),
        (ConnectionResetError(), "Slack could not be reached"),
    ],
)
def test_no_answer_from_slack_is_ambiguous(error: Exception, reason: str) -> None:
    failure = classify(error)
    assert (failure.cls, failure.reason) == (SlackErrorClass.AMBIGUOUS, reason)


def test_reasons_are_worded_for_a_channel_member() -> None:
    assert classify(api_error("not_in_channel")).reason == "the bot is not in this channel"
    assert classify(api_error("bad code!")).reason == "Slack said bad_code_"
    assert classify(api_error("whatever", 502)).reason == "Slack had a server error"


def test_answers_only_for_what_a_user_can_fix() -> None:
    assert "/invite @clusters-bot" in (answer_for(api_error("not_in_channel")) or "")
    assert answer_for(api_error("invalid_blocks")) is None
    assert answer_for(ValueError("a bug")) is None


def test_channel_problems_are_the_needs_human_codes() -> None:
    assert is_channel_problem("channel_not_found") and is_channel_problem("not_in_channel")
    assert not is_channel_problem("is_archived") and not is_channel_problem("its parent failed")
