"""Files of the fake Slack: the two-step upload slack_sdk's ``files_upload_v2`` uses."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from standins.slack.api import Reply
from standins.slack.model import (
    Channel,
    Message,
    SlackError,
    UploadedFile,
    json_param,
    text_param,
)


class FilesMixin:
    files: dict[str, UploadedFile]
    bot_user_id: str
    bot_id: str
    _changed: threading.Condition

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

        def _need(self, scope: str) -> None: ...
        def _member_of(self, params: dict[str, Any], key: str = "channel") -> Channel: ...
        def _next_ts(self) -> str: ...
        def _add_message(self, msg: Message, events: list[tuple[str, Message]]) -> Message: ...
        def _record(
            self,
            method: str,
            params: dict[str, Any],
            token: str | None,
            reply: Reply | None,
            events: list[tuple[str, Message]],
        ) -> None: ...

    def _api_files_getUploadURLExternal(
        self, params: dict[str, Any], ev: list[Any]
    ) -> dict[str, Any]:
        self._need("files:write")
        filename, length = text_param(params, "filename"), params.get("length")
        if not filename or length is None:
            raise SlackError("invalid_arguments")
        file_id = f"F0SBX{len(self.files) + 1:05d}"
        self.files[file_id] = UploadedFile(file_id, filename, filename, int(length))
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(
        self, params: dict[str, Any], ev: list[Any]
    ) -> dict[str, Any]:
        self._need("files:write")
        items = json_param(params, "files") or []
        uploads = [self.files.get(str(item.get("id"))) for item in items]
        if not uploads or any(f is None or f.content is None for f in uploads):
            raise SlackError("file_not_found")
        done = [f for f in uploads if f is not None]
        channel = self._member_of(params, "channel_id") if params.get("channel_id") else None
        for f, item in zip(done, items, strict=True):
            f.title = item.get("title") or f.filename
        if channel is not None:
            text = text_param(params, "initial_comment") or ""
            msg = Message(self._next_ts(), channel.id, self.bot_user_id, text, files=done)
            msg.thread_ts, msg.bot_id = text_param(params, "thread_ts"), self.bot_id
            self._add_message(msg, ev)
        return {"files": [{"id": f.id, "name": f.filename, "title": f.title} for f in done]}

    def _upload(self, file_id: str, data: bytes) -> Reply:
        with self._changed:
            upload = self.files.get(file_id)
            if upload is None:
                reply = Reply(404, "file_not_found")
            else:
                upload.content, upload.length = data, len(data)
                reply = Reply(200, f"OK - {len(data)}")
            self._record("upload", {"file_id": file_id, "length": len(data)}, None, reply, [])
        return reply
