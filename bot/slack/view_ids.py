"""Interactive ids of the App Home tab and its modals, and their small typed payloads.

Button values and `private_metadata` carry references (a channel id), never settings: the
handler reads the current state from the store.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from bot.slack.ids import Payload

CHANNEL_ID = r"^[CGD][A-Z0-9]{2,30}$"


class HomeAction(StrEnum):
    ALL_THRESHOLDS = "home.all_thresholds"  # anyone: a read-only modal
    EDIT_THRESHOLDS = "home.edit_thresholds"  # admins
    EDIT_SUBSCRIPTIONS = "home.edit_subscriptions"  # admins
    UNMUTE = "home.unmute"  # admins


class Modal(StrEnum):
    """`callback_id`s of the modals that submit."""

    THRESHOLDS = "home.thresholds"
    SUBSCRIPTIONS = "home.subscriptions"
    UNMUTE = "home.unmute"


ADMIN_ACTIONS = frozenset(
    {HomeAction.EDIT_THRESHOLDS, HomeAction.EDIT_SUBSCRIPTIONS, HomeAction.UNMUTE}
)


HOME_PAGE = "home.page"  # anyone: another page of the tab's channels


class HomePage(Payload):
    """Which page of channels the Home tab shows (from 0)."""

    page: int = Field(ge=0, le=10_000)


class ChannelRef(Payload):
    """A channel whose settings a button or modal is about."""

    channel: str = Field(pattern=CHANNEL_ID)


class SubscriptionsForm(ChannelRef):
    """The Subscriptions modal's `private_metadata`: its channel and the subscriptions (row
    ids) it showed. Saving removes only the shown ones left unticked, so a subscription added
    while the modal was open (`/clusters subscribe`), or one the modal had no room for, stays."""

    shown: tuple[int, ...] = ()
