"""Registration of the Slack-native surfaces: the App Home tab, its modals, link unfurls."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.listeners.home import handle_app_home_opened, handle_home_page
from bot.listeners.modals import (
    handle_home_action,
    handle_subscriptions_submission,
    handle_thresholds_submission,
    handle_unmute_submission,
)
from bot.listeners.unfurls import handle_link_shared
from bot.slack.view_ids import HOME_PAGE, HomeAction, Modal


def register_surfaces(app: App) -> None:
    app.event("app_home_opened")(handle_app_home_opened)
    app.event("link_shared")(handle_link_shared)
    home_actions = "|".join(re.escape(action.value) for action in HomeAction)
    app.action(re.compile(rf"^({home_actions})$"))(handle_home_action)
    app.action(re.compile(rf"^{re.escape(HOME_PAGE)}(\.previous)?$"))(handle_home_page)
    app.view(Modal.THRESHOLDS.value)(handle_thresholds_submission)
    app.view(Modal.SUBSCRIPTIONS.value)(handle_subscriptions_submission)
    app.view(Modal.UNMUTE.value)(handle_unmute_submission)
