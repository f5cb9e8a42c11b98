"""The membership model: the bot posts only where it is a member, so it can also read its own
messages back (history/replies answer `not_in_channel` otherwise) and upload files there.

Public channels: the bot joins them itself (`conversations.join`, scope `channels:join`) when
one is subscribed or is ALERT_CHANNEL. Private channels: only a person can add the bot
(`/invite @clusters-bot`); until then Slack answers `channel_not_found`, as for a channel that
does not exist. Used by `/clusters subscribe` and `clusters-bot doctor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.errors import error_code


class Membership(StrEnum):
    MEMBER = "member"  # already in the channel
    JOINED = "joined"  # a public channel, joined just now
    NEEDS_INVITE = "needs_invite"  # private, or not visible to the bot: a person must /invite
    MISSING_SCOPE = "missing_scope"  # the token lacks a scope; `detail` names it
    FAILED = "failed"  # another Slack error; `detail` is its code


@dataclass(frozen=True)
class MembershipCheck:
    status: Membership
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (Membership.MEMBER, Membership.JOINED)


def ensure_member(client: WebClient, channel: str) -> MembershipCheck:
    """Make the bot a member of `channel` where it can do so itself, and say what is left."""
    try:
        info = client.conversations_info(channel=channel)
    except SlackApiError as error:
        return _refused(error)
    details = info.get("channel") or {}
    if details.get("is_member"):
        return MembershipCheck(Membership.MEMBER)
    if details.get("is_private"):
        return MembershipCheck(Membership.NEEDS_INVITE, "not_in_channel")
    try:
        client.conversations_join(channel=channel)
    except SlackApiError as error:
        return _refused(error)
    return MembershipCheck(Membership.JOINED)


def _refused(error: SlackApiError) -> MembershipCheck:
    code = error_code(error)
    if code == "missing_scope":
        return MembershipCheck(Membership.MISSING_SCOPE, str(error.response.get("needed") or ""))
    if code == "channel_not_found":
        return MembershipCheck(Membership.NEEDS_INVITE, code)
    return MembershipCheck(Membership.FAILED, code)


def scope_fix(scope: str) -> str:
    return (
        f"add the {scope} scope under OAuth & Permissions (slack/manifest.json lists it) "
        "and reinstall the app"
    )
