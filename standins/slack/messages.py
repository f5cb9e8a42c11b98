"""Messages of the fake Slack: chat.* methods, threads, and what tests read back."""

from __future__ import annotations

import copy
import threading
import time
from typing import TYPE_CHECKING, Any

from standins.slack.model import (
    Channel,
    Message,
    SlackError,
    blocks_param,
    json_param,
    text_param,
)


class MessagesMixin:
    bot_user_id: str
    bot_id: str
    users: dict[str, dict[str, Any]]
    _lock: threading.RLock
    _messages: dict[str, list[Message]]
    _scopes_now: frozenset[str]
    _ts_seq: int

    if TYPE_CHECKING:

        @property
        def url(self) -> str:
            ...
            # in ChannelsMixin

        def _need(self, scope: str) -> None: ...
        def _channel(self, params: dict[str, Any], key: str = "channel") -> Channel: ...
        def _member_of(self, params: dict[str, Any], key: str = "channel") -> Channel: ...

    # -- inspection ------------------------------------------------------------------------
    def messages(self, channel: str) -> list[Message]:
        """Top-level messages (ephemeral ones included, see ``ephemeral_for``), oldest first."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under parent ``ts`` (the parent itself is not included)."""
        with self._lock:
            parent = self._find(channel, ts)
            return copy.deepcopy(parent.replies) if parent else []

    def get_message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return copy.deepcopy(self._find(channel, ts))

    # -- state changes (all under the lock) --------------------------------------------------
    def _next_ts(self) -> str:
        """Like Slack: the epoch time in microseconds, unique and increasing per workspace."""
        self._ts_seq = max(self._ts_seq + 1, int(time.time() * 1_000_000))
        return f"{self._ts_seq // 1_000_000}.{self._ts_seq % 1_000_000:06d}"

    def _find(self, channel: str, ts: str) -> Message | None:
        for msg in self._messages.get(channel, []):
            if msg.ts == ts:
                return msg
            for reply in msg.replies:
                if reply.ts == ts:
                    return reply
        return None

    def _container(self, channel: str, thread_ts: str | None) -> list[Message]:
        if thread_ts is None:
            return self._messages.setdefault(channel, [])
        parent = self._find(channel, thread_ts)
        if parent is None:
            raise SlackError("thread_not_found")  # stricter than Slack: catches bad thread_ts
        return parent.replies

    def _add_message(self, msg: Message, events: list[tuple[str, Message]]) -> Message:
        parent = self._find(msg.channel, msg.thread_ts) if msg.thread_ts else None
        if parent is not None and parent.thread_ts:  # a reply's ts: Slack uses its parent
            msg.thread_ts = parent.thread_ts
        self._container(msg.channel, msg.thread_ts).append(msg)
        events.append(("posted", msg))
        return msg

    def _remove(self, msg: Message, events: list[tuple[str, Message]]) -> None:
        self._container(msg.channel, msg.thread_ts).remove(msg)
        events.append(("deleted", msg))

    def _message_in(self, params: dict[str, Any], ts_key: str = "ts") -> Message:
        msg = self._find(self._channel(params).id, str(params.get(ts_key)))
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    def _content(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text, blocks = text_param(params, "text") or "", blocks_param(params)
        if not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        return text, blocks

    def _bot_message(self, params: dict[str, Any], channel: str, **kw: Any) -> Message:
        text, blocks = self._content(params)
        user, bot_id = self.bot_user_id, self.bot_id
        return Message(self._next_ts(), channel, user, text, blocks, bot_id=bot_id, **kw)

    # -- Web API methods: params -> response dict, or raise SlackError -----------------------
    def _api_chat_postMessage(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._channel(params)
        if not channel.is_member and (
            channel.is_private or "chat:write.public" not in self._scopes_now
        ):
            raise SlackError("not_in_channel")
        msg = self._bot_message(params, channel.id, thread_ts=text_param(params, "thread_ts"))
        metadata = json_param(params, "metadata")
        msg.metadata = metadata if isinstance(metadata, dict) else None
        self._add_message(msg, ev)
        return {"channel": channel.id, "ts": msg.ts, "message": msg.to_dict()}

    def _api_chat_postEphemeral(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._member_of(params)
        user = text_param(params, "user")
        if not user or user not in self.users:
            raise SlackError("user_not_found")
        thread_ts = text_param(params, "thread_ts")
        msg = self._bot_message(params, channel.id, thread_ts=thread_ts, ephemeral_for=user)
        return {"message_ts": self._add_message(msg, ev).ts}

    def _api_chat_update(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("chat:write")
        msg = self._message_in(params)
        if msg.ephemeral_for:  # "Ephemeral messages can't be updated" (slack.md A5)
            raise SlackError("message_not_found")
        if msg.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        if params.get("text") is None and params.get("blocks") is None:
            raise SlackError("no_text")
        if params.get("blocks") is not None:  # absent: keep blocks; [] clears them
            msg.blocks = blocks_param(params)
        if params.get("text") is not None:
            msg.text = str(params["text"])
        msg.edited = True
        ev.append(("updated", msg))
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text, "message": msg.to_dict()}

    def _api_chat_delete(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("chat:write")
        msg = self._message_in(params)
        if msg.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self._remove(msg, ev)
        return {"channel": msg.channel, "ts": msg.ts}

    def _api_chat_getPermalink(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        msg = self._message_in(params, "message_ts")
        link = f"{self.url}/archives/{msg.channel}/p{msg.ts.replace('.', '')}"
        if msg.thread_ts:
            link += f"?thread_ts={msg.thread_ts}&cid={msg.channel}"
        return {"channel": msg.channel, "permalink": link}
