"""Bolt listeners: thin handlers that ack, parse, call one service, render and reply."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.listeners.actions import (
    handle_map_action,
    handle_mute_action,
    handle_open_action,
    handle_share_action,
    handle_trace_details_action,
    handle_traces_action,
    handle_why_action,
)
from bot.listeners.commands import handle_clusters_command
from bot.listeners.errors import handle_error
from bot.listeners.surfaces import register_surfaces
from bot.slack.ids import ActionId


def _action(action_id: ActionId) -> re.Pattern[str]:
    """Buttons carry a per-message suffix (`clusters.traces.3`) to keep action ids unique."""
    return re.compile(rf"^{re.escape(action_id.value)}(\.\d+)?$")


def register_listeners(app: App) -> None:
    app.command("/clusters")(handle_clusters_command)
    app.action(_action(ActionId.TRACES))(handle_traces_action)
    app.action(_action(ActionId.TRACE_DETAILS))(handle_trace_details_action)
    app.action(_action(ActionId.SHARE))(handle_share_action)
    app.action(_action(ActionId.MUTE))(handle_mute_action)
    app.action(_action(ActionId.MAP))(handle_map_action)
    app.action(_action(ActionId.OPEN))(handle_open_action)
    app.action(_action(ActionId.WHY))(handle_why_action)
    register_surfaces(app)  # the Home tab, its modals, link unfurls
    app.error(handle_error)
