"""Direct writes to Slack outside the outbox: thread replies, file uploads and notices.

Each write keeps the channel's pace (about one message per second per channel, slack.md A9:
every process books its slot in the store, as the outbox does) and raises a Slack failure as
`SlackWriteError`, classified once by bot/slack/errors.py. A failure that is not Slack's (a bug)
is not caught here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.slack.errors import SlackWriteError, classify
from bot.store.ports import SendSlots


@dataclass(frozen=True)
class Upload:
    """One file for `upload_files`."""

    content: bytes
    filename: str
    title: str


class SlackWriter:
    def __init__(
        self,
        client: WebClient,
        store: SendSlots | None = None,
        *,
        min_interval: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self._store = store
        self._min_interval = min_interval
        self._sleep = sleep

    def pace(self, channel: str) -> None:
        """Wait for the channel's next send slot (no wait when pacing is off)."""
        if self._min_interval <= 0 or self._store is None:
            return
        wait = self._store.reserve_slot(channel, timedelta(seconds=self._min_interval))
        if wait > 0:
            self._sleep(wait)

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post a message (into `thread_ts` when given), links not unfurled; returns its ts."""
        self.pace(channel)
        try:
            # slack_sdk sends a JSON null for an argument given as None: leave them out.
            extra: dict[str, Any] = {"blocks": blocks, "thread_ts": thread_ts, "metadata": metadata}
            response = self.client.chat_postMessage(
                channel=channel,
                text=text,
                unfurl_links=False,
                unfurl_media=False,
                **{k: v for k, v in extra.items() if v is not None},
            )
        except (SlackClientError, OSError) as error:
            raise SlackWriteError(classify(error), error) from error
        return str(response.get("ts") or "")

    def update(self, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]]) -> str:
        """Replace message `ts` (chat.update: an update sent twice changes nothing)."""
        self.pace(channel)
        try:
            response = self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except (SlackClientError, OSError) as error:
            raise SlackWriteError(classify(error), error) from error
        return str(response.get("ts") or "")

    def reply_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        return self.post(channel, text, blocks, thread_ts=thread_ts)

    def upload_files(
        self, channel: str, thread_ts: str, files: Sequence[Upload], comment: str | None
    ) -> None:
        """Upload `files` as one message in the thread (`files_upload_v2`: getUploadURLExternal,
        the upload, then completeUploadExternal; needs the `files:write` scope)."""
        self.pace(channel)
        try:
            self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                file_uploads=[
                    {"content": f.content, "filename": f.filename, "title": f.title} for f in files
                ],
                initial_comment=comment,
            )
        except (SlackClientError, OSError) as error:
            raise SlackWriteError(classify(error), error) from error

    def join(self, channel: str) -> None:
        """Join a public channel (channels:join); a private one needs a person's /invite."""
        try:
            self.client.conversations_join(channel=channel)
        except (SlackClientError, OSError) as error:
            raise SlackWriteError(classify(error), error) from error
