"""Where the bot's link cards may go: conversations it is a member of and that are internal.

Slack sends `link_shared` for every conversation a link is pasted in, the bot's or not: DMs
between people, private channels without the bot, Slack Connect channels shared with other
organisations (https://docs.slack.dev/reference/events/link_shared). A card shows cluster
titles, costs and trace names to everyone there, and its buttons answer only where the bot is
a member. So a card goes only where the bot is a member (the event's `is_bot_user_member`,
else `conversations.info`'s `is_member`) and, unless UNFURL_EXTERNAL says otherwise, the
conversation is not shared with another organisation (`is_ext_shared`,
`is_pending_ext_shared`, or `is_shared` without `is_org_shared`;
https://docs.slack.dev/reference/objects/conversation-object).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.errors import error_code

logger = logging.getLogger(__name__)

CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
COMPOSER = "COMPOSER"  # the `channel` of a link still being typed, before it is posted
INFO_TTL = 60.0  # membership and sharing change rarely; a burst of links costs one lookup


@dataclass(frozen=True)
class Conversation:
    member: bool  # the bot is in it
    external: bool  # shared with another organisation (Slack Connect)


class ConversationInfo:
    """`conversations.info` per conversation, kept `ttl` seconds (failures too); thread-safe."""

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = INFO_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.ttl, self.clock = client, ttl, clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Conversation | None]] = {}

    def get(self, channel: str) -> Conversation | None:
        """What Slack says of `channel`; None when it does not say (not visible to the bot, a
        scope the token lacks, an error): treated as a conversation the bot is not in."""
        now = self.clock()
        with self._lock:
            known = self._known.get(channel)
        if known is not None and now - known[0] < self.ttl:
            return known[1]
        found = self._ask(channel)
        with self._lock:
            self._known[channel] = (now, found)
            for stale in [c for c, (at, _) in self._known.items() if now - at >= self.ttl]:
                del self._known[stale]
        return found

    def _ask(self, channel: str) -> Conversation | None:
        try:
            info: dict[str, Any] = self.client.conversations_info(channel=channel)["channel"]
        except (SlackClientError, OSError) as error:
            code = error_code(error) if isinstance(error, SlackApiError) else type(error).__name__
            logger.info("slack.conversation.unknown", extra={"channel": channel, "error": code})
            return None
        external = bool(
            info.get("is_ext_shared")
            or info.get("is_pending_ext_shared")
            or (info.get("is_shared") and not info.get("is_org_shared"))
        )
        return Conversation(member=bool(info.get("is_member")), external=external)


def may_unfurl(
    event: dict[str, Any], conversations: ConversationInfo, *, allow_external: bool
) -> bool:
    """Whether a `link_shared` event's conversation may get the bot's cards."""
    channel = str(event.get("channel") or "")
    if channel == COMPOSER or not CONVERSATION_ID.fullmatch(channel):
        return False  # a link still in the composer, conversation not named: wait for the post
    said = event.get("is_bot_user_member")
    if said is False:
        return False
    if channel.startswith("D"):
        # A DM the bot is in is its own with the person who pasted the link (reading DMs would
        # need im:read, which the bot does not ask for).
        return said is True
    found = conversations.get(channel)
    if found is None or not found.member:
        return False
    return allow_external or not found.external
