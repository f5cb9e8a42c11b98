"""The App Home tab: published for whoever opens it (`app_home_opened` -> `views.publish`).

Everyone sees the settings and the bot's health; only admins get the edit buttons. Reading the
tab costs a few database queries and no PostHog query; it is published from the work pool all
the same, after the event's ack: a `views.publish` answered with 429 waits out its Retry-After
there, never inside Slack's 3 s (Slack would deliver the event again).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.listeners.answer import is_admin
from bot.rendering.home import render_home
from bot.slack.view_ids import HomePage
from bot.slack.views import publish_home as publish_home_view

if TYPE_CHECKING:  # the composition root, for its type only (it pulls in every service)
    from bot.wiring import Services

logger = logging.getLogger(__name__)


def publish_home(user: str, client: WebClient, services: Services, page: int = 0) -> None:
    view = services.home.view(admin=is_admin(user, services, client), page=page)
    publish_home_view(client, user, render_home(view))


def handle_app_home_opened(event: dict[str, Any], services: Services) -> None:
    if event.get("tab", "home") != "home":  # the Messages tab opens the DM: nothing to show
        return
    republish_later(str(event["user"]), services)


def handle_home_page(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], services: Services
) -> None:
    """ "More channels" / "Previous channels": the tab again, at the page the button names."""
    ack()
    page = HomePage.model_validate_json(action["value"]).page
    republish_later(body["user"]["id"], services, page=page)


def republish_later(user: str, services: Services, *, page: int = 0) -> None:
    """Publish the tab (after a change, or at another page) from the work pool, after the ack
    (of the event, or of the modal that changed a setting), with the client that waits out a 429
    there."""
    if not services.work.reserve():
        logger.warning("slack.home.busy", extra={"user": user})
        return  # busy: the tab keeps its last version until it is opened again

    def work() -> None:
        try:
            publish_home(user, services.slack, services, page)
        except Exception:
            logger.exception("slack.home.publish_failed")

    services.work.submit(work)
