"""Channels of the fake Slack and who may see them: membership and scopes as Slack checks them.

A public channel the bot is not in: posting needs ``chat:write.public``, reading history
answers ``not_in_channel``; ``conversations.join`` makes the bot a member. A private channel
the bot is not in does not exist for it: ``channel_not_found`` everywhere, until a person
invites it. A call without the scope it needs answers ``missing_scope`` with ``needed`` and
``provided`` (https://docs.slack.dev/reference/methods). A DM (``create_dm``) is seen only by its
two members, and reading it needs ``im:read``; a Slack Connect channel (``external``) reports
``is_shared`` and ``is_ext_shared``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from standins.slack.model import Channel, Message, SlackError, page


class ChannelsMixin:
    bot_user_id: str
    channels: dict[str, Channel]
    _lock: threading.RLock
    _messages: dict[str, list[Message]]
    _scopes_now: frozenset[str]

    def create_channel(
        self,
        name: str,
        id: str | None = None,
        member: bool = True,
        *,
        private: bool = False,
        external: bool = False,
    ) -> str:
        """`external`: a Slack Connect channel, shared with another organisation."""
        with self._lock:
            channel_id = id or f"C0SBX{len(self.channels) + 1:04d}"
            self.channels[channel_id] = Channel(channel_id, name, member, private, external)
            self._messages.setdefault(channel_id, [])
            return channel_id

    def create_dm(self, user: str, other: str | None = None) -> str:
        """The DM of `user` with `other` (None: with the bot); returns its id."""
        with self._lock:
            with_bot = other is None or other == self.bot_user_id
            peer = user if with_bot else str(other)
            channel_id = f"D0SBX{len(self.channels) + 1:04d}"
            self.channels[channel_id] = Channel(
                channel_id, "", is_member=with_bot, is_private=True, im_user=peer
            )
            self._messages.setdefault(channel_id, [])
            return channel_id

    def set_member(self, channel: str, member: bool = True) -> None:
        """What ``/invite @bot`` (or removing the bot) does."""
        with self._lock:
            self.channels[channel].is_member = member

    # -- checks used by every method -------------------------------------------------------
    def _need(self, scope: str) -> None:
        if scope not in self._scopes_now:
            provided = ",".join(sorted(self._scopes_now))
            raise SlackError("missing_scope", needed=scope, provided=provided)

    def _channel(self, params: dict[str, Any], key: str = "channel") -> Channel:
        """The channel as the bot sees it: a private one it is not in does not exist."""
        ref = str(params.get(key) or "").lstrip("#")
        for channel in self.channels.values():
            if ref in (channel.id, channel.name):
                if channel.is_private and not channel.is_member:
                    break
                return channel
        raise SlackError("channel_not_found")

    def _member_of(self, params: dict[str, Any], key: str = "channel") -> Channel:
        channel = self._channel(params, key)
        if not channel.is_member:
            raise SlackError("not_in_channel")
        return channel

    def _need_read(self, channel: Channel, what: str) -> None:
        kind = "im" if channel.is_im else "groups" if channel.is_private else "channels"
        self._need(f"{kind}:{what}")

    # -- Web API methods ---------------------------------------------------------------------
    def _api_conversations_info(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        channel = self._channel(params)
        self._need_read(channel, "read")
        return {"channel": channel.to_dict()}

    def _api_conversations_join(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("channels:join")
        channel = self._channel(params)
        if channel.is_private:  # only a person can invite the bot into a private channel
            raise SlackError("method_not_supported_for_channel_type")
        already = channel.is_member
        channel.is_member = True
        warning = {"warning": "already_in_channel"} if already else {}
        return {"channel": channel.to_dict()} | warning

    def _api_conversations_history(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        """Top-level messages, newest first; `metadata` only with include_all_metadata."""
        channel = self._channel(params)
        self._need_read(channel, "history")
        channel = self._member_of(params)
        visible = [m for m in self._messages.get(channel.id, []) if m.ephemeral_for is None]
        return {"messages": page(visible[::-1], params), "has_more": False}

    def _api_conversations_replies(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        """A thread: its parent, then the replies, oldest first."""
        channel = self._channel(params)
        self._need_read(channel, "history")
        self._member_of(params)
        parent = self._message_in(params)
        thread = [parent, *(m for m in parent.replies if m.ephemeral_for is None)]
        return {"messages": page(thread, params), "has_more": False}

    if TYPE_CHECKING:  # in MessagesMixin

        def _message_in(self, params: dict[str, Any], ts_key: str = "ts") -> Message: ...
