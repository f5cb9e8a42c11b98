"""response_url of the fake Slack: ephemeral by default, replace/delete the original, and
Slack's limits: 5 uses within 30 minutes, then ``used_url`` / ``expired_url`` (HTTP 404 with
the code as a text body). The clock is injectable, so tests can let half an hour pass."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from standins.slack.api import Reply
from standins.slack.model import (
    RESPONSE_URL_LIFETIME,
    RESPONSE_URL_MAX_USES,
    Message,
    ResponseUrl,
    SlackError,
)


class ResponsesMixin:
    clock: Callable[[], float]
    _lock: threading.RLock
    _changed: threading.Condition
    _response_urls: dict[str, ResponseUrl]
    _seq: int

    if TYPE_CHECKING:

        @property
        def url(self) -> str: ...

        def _find(self, channel: str, ts: str) -> Message | None: ...
        def _remove(self, msg: Message, events: list[tuple[str, Message]]) -> None: ...
        def _content(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]: ...
        def _bot_message(self, params: dict[str, Any], channel: str, **kw: Any) -> Message: ...
        def _add_message(self, msg: Message, events: list[tuple[str, Message]]) -> Message: ...
        def _notify(self, events: list[tuple[str, Message]]) -> None: ...
        def _record(
            self,
            method: str,
            params: dict[str, Any],
            token: str | None,
            reply: Reply | None,
            events: list[tuple[str, Message]],
        ) -> None: ...

    def response_url(
        self,
        channel: str,
        user: str,
        thread_ts: str | None = None,
        *,
        message_ts: str | None = None,
    ) -> str:
        """A response_url for an interaction; ``message_ts`` is the message clicked, if any."""
        with self._lock:
            self._seq += 1
            token = f"R{self._seq:06d}"
            state = ResponseUrl(channel, user, thread_ts, message_ts, created_at=self.clock())
            self._response_urls[token] = state
        return f"{self.url}/response/{token}"

    def respond(self, url: str, payload: dict[str, Any], *, counts: bool = True) -> int:
        """Apply a POST to a response_url as Slack would; returns the HTTP status.

        Also used for a slash command's HTTP ack body (``counts=False``, recorded as "ack"),
        which Slack shows like a response_url message.
        """
        return self._respond(url, payload, counts).status

    def _respond(self, url: str, payload: dict[str, Any], counts: bool) -> Reply:
        events: list[tuple[str, Message]] = []
        with self._changed:
            token = url.rstrip("/").rsplit("/", 1)[-1]
            reply = self._respond_locked(token, payload, counts, events)
            self._record("response_url" if counts else "ack", payload, None, reply, events)
        self._notify(events)
        return reply

    def _respond_locked(
        self, token: str, payload: dict[str, Any], counts: bool, ev: list[tuple[str, Message]]
    ) -> Reply:
        state = self._response_urls.get(token)
        if state is None or (counts and self.clock() - state.created_at > RESPONSE_URL_LIFETIME):
            return Reply(404, "expired_url")
        if counts:
            if state.uses >= RESPONSE_URL_MAX_USES:
                return Reply(404, "used_url")
            state.uses += 1
        original = self._find(state.channel, state.message_ts) if state.message_ts else None
        try:
            if payload.get("delete_original"):
                if original is None:
                    return Reply(404, "message_not_found")
                self._remove(original, ev)
            elif payload.get("replace_original") and original is not None:
                original.text, original.blocks = self._content(payload)
                original.edited = True
                ev.append(("updated", original))
            else:  # a new message; "ephemeral" is the default response_type
                ephemeral = payload.get("response_type", "ephemeral") != "in_channel"
                thread_ts = payload.get("thread_ts") or state.thread_ts
                msg = self._bot_message(payload, state.channel, thread_ts=thread_ts)
                msg.ephemeral_for = state.user if ephemeral else None
                state.message_ts = self._add_message(msg, ev).ts  # for a later replace_original
        except SlackError as exc:
            return Reply(400, exc.code)
        return Reply(200, {"ok": True})
