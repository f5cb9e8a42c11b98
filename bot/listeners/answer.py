"""From a parsed `/clusters` command to the message that answers it: one service call, one
render. Settings changes are checked against workspace admins and `ADMIN_USER_IDS`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.commands import BaseCommand, spec_for
from bot.commands.handlers import Asker
from bot.posthog.budget import spending_for
from bot.rendering.message import Message
from bot.services.errors import NotAllowed

if TYPE_CHECKING:  # the composition root, for its type only: importing it pulls in every
    # service and its libraries (matplotlib, alembic)
    from bot.wiring import Services

logger = logging.getLogger(__name__)


def is_admin(user: str, services: Services, client: WebClient) -> bool:
    if user in services.settings.admins:
        return True
    try:
        info = client.users_info(user=user)
    except SlackApiError as error:
        logger.warning("slack.users_info.failed", extra={"error": error.response.get("error")})
        return False
    profile = info.get("user") or {}
    return bool(profile.get("is_admin") or profile.get("is_owner"))


def answer(parsed: BaseCommand, asker: Asker, services: Services, client: WebClient) -> Message:
    """Run `parsed` as its row of the table says: check who may, then call the row's handler."""
    spec = spec_for(parsed)
    if spec.needs_admin(parsed) and not is_admin(asker.user, services, client):
        raise NotAllowed(
            f"Only workspace admins (or users in ADMIN_USER_IDS) can use `/clusters {parsed.name}`"
            " to change settings. Anyone can read them."
        )
    with spending_for(asker.user):  # PostHog queries count against this user's share
        return spec.answer(parsed, asker, services)
