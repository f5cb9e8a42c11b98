"""A recording `Notifier`: services tested in-process keep what they would have written to
Slack here instead, and a test can make the next write fail as Slack would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.slack.errors import SlackWriteError, classify
from bot.slack.notifier import DeliveryReport
from bot.slack.writer import Upload


@dataclass
class Reply:
    channel: str
    thread_ts: str
    text: str
    blocks: list[dict[str, Any]]


@dataclass
class Uploaded:
    channel: str
    thread_ts: str
    files: list[Upload]
    comment: str | None


@dataclass
class RecordingNotifier:
    replies: list[Reply] = field(default_factory=list)
    uploads: list[Uploaded] = field(default_factory=list)
    drains: int = 0
    # Slack error codes the next uploads fail with, one per upload (as the fake Slack's faults)
    failing_uploads: list[str] = field(default_factory=list)

    def deliver(self) -> DeliveryReport:
        self.drains += 1
        return DeliveryReport()

    def reply_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        self.replies.append(Reply(channel, thread_ts, text, list(blocks or [])))
        return f"{len(self.replies)}.000100"

    def upload_files(
        self, channel: str, thread_ts: str, files: Sequence[Upload], comment: str | None
    ) -> None:
        if self.failing_uploads:
            raise refused(self.failing_uploads.pop(0))
        self.uploads.append(Uploaded(channel, thread_ts, list(files), comment))


def refused(code: str, status: int = 200) -> SlackWriteError:
    """The error the writer raises when Slack answers `ok: false` with `code`."""
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/files.completeUploadExternal",
        req_args={},
        data={"ok": False, "error": code},
        headers={},
        status_code=status,
    )
    error = SlackApiError(f"The request to the Slack API failed: {code}", response)
    return SlackWriteError(classify(error), error)
