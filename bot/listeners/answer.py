"""From a parsed `/clusters` command to the message that answers it: one service call, one
render. Settings changes are checked against workspace admins and `ADMIN_USER_IDS`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.commands import help_lines
from bot.commands import parsed as cmd
from bot.posthog.budget import spending_for
from bot.rendering.message import Message
from bot.services.errors import NotAllowed
from bot.slack.membership import Membership, ensure_member

if TYPE_CHECKING:  # the composition root, for its type only: importing it pulls in every
    # service and its libraries (matplotlib, alembic)
    from bot.wiring import Services

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asker:
    channel: str
    user: str
    text: str
    shared: bool = False  # the answer goes to the whole channel ("Share in channel")


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


def answer(parsed: Any, asker: Asker, services: Services, client: WebClient) -> Message:
    if parsed.is_admin_only and not is_admin(asker.user, services, client):
        raise NotAllowed(
            f"Only workspace admins (or users in ADMIN_USER_IDS) can use `/clusters {parsed.name}`"
            " to change settings. Anyone can read them."
        )
    handler = HANDLERS.get(type(parsed), _help)
    with spending_for(asker.user):  # PostHog queries count against this user's share
        return handler(parsed, asker, services)


def _help(parsed: Any, asker: Asker, services: Services) -> Message:
    problem = getattr(parsed, "problem", None)
    topic = getattr(parsed, "topic", None)
    return services.renderer.help(help_lines(problem, topic)[1 if problem else 0 :], problem)


def _latest(c: cmd.Latest, asker: Asker, s: Services) -> Message:
    share_text = None if asker.shared else asker.text
    return s.renderer.summary(s.clusters.latest(c.level, c.job), command_text=share_text)


def _runs(c: cmd.Runs, asker: Asker, s: Services) -> Message:
    return s.renderer.runs(s.clusters.recent_runs(c.level, c.limit))


def _show(c: cmd.Show, asker: Asker, s: Services) -> Message:
    view = s.clusters.find_cluster(c.cluster, c.run_id)
    return s.renderer.cluster(view, s.drilldown.traces(view, private=not asker.shared))


def _top(c: cmd.Top, asker: Asker, s: Services) -> Message:
    return s.renderer.top(s.clusters.top(c.metric.value, c.level))


def _compare(c: cmd.Compare, asker: Asker, s: Services) -> Message:
    return s.changes.compare(s.clusters.compare(c.current, c.previous, c.level))


def _jobs(c: cmd.Jobs, asker: Asker, s: Services) -> Message:
    return s.renderer.jobs(s.clusters.jobs())


def _trace(c: cmd.Trace, asker: Asker, s: Services) -> Message:
    return s.drilldown.trace(s.clusters.trace(c.trace_id), private=not asker.shared)


def _subscribe(c: cmd.Subscribe, asker: Asker, s: Services) -> Message:
    note = s.channel_settings.subscribe(asker.channel, c.level, c.job, asker.user)
    membership = ensure_member(s.slack, asker.channel)
    extra = MEMBERSHIP_NOTES[membership.status].format(detail=membership.detail)
    return s.renderer.notice(f"{note} {extra}".strip())


MEMBERSHIP_NOTES = {
    Membership.MEMBER: "",
    Membership.JOINED: "I joined this channel to post the alerts here.",
    Membership.NEEDS_INVITE: "I'm not a member of this channel and cannot join it myself (a "
    "private channel): invite me with `/invite @clusters-bot`, or the alerts cannot be posted.",
    Membership.MISSING_SCOPE: "I could not check that I can post here: the app lacks the "
    "`{detail}` scope. Whoever runs the bot can add it (slack/manifest.json lists it) and "
    "reinstall the app.",
    Membership.FAILED: "I could not check that I can post here (Slack said `{detail}`).",
}


def _unsubscribe(c: cmd.Unsubscribe, asker: Asker, s: Services) -> Message:
    return s.renderer.notice(s.channel_settings.unsubscribe(asker.channel, c.level, c.job))


def _subscriptions(c: cmd.Subscriptions, asker: Asker, s: Services) -> Message:
    lines = s.channel_settings.describe_subscriptions(asker.channel)
    return s.renderer.lines("Alert subscriptions in this channel", lines)


def _thresholds(c: cmd.Thresholds, asker: Asker, s: Services) -> Message:
    if c.overrides or c.reset:
        note = s.channel_settings.set_thresholds(
            asker.channel, c.overrides, asker.user, reset=c.reset
        )
        return s.renderer.lines(note, s.channel_settings.describe_thresholds(asker.channel))
    return s.renderer.lines(
        "Alert thresholds in this channel", s.channel_settings.describe_thresholds(asker.channel)
    )


def _mute(c: cmd.Mute, asker: Asker, s: Services) -> Message:
    note = s.channel_settings.mute(asker.channel, None, c.cluster, c.duration, asker.user)
    return s.renderer.notice(note)


def _unmute(c: cmd.Unmute, asker: Asker, s: Services) -> Message:
    return s.renderer.notice(s.channel_settings.unmute(asker.channel, c.cluster))


def _mutes(c: cmd.Mutes, asker: Asker, s: Services) -> Message:
    return s.renderer.lines(
        "Muted clusters in this channel", s.channel_settings.describe_mutes(asker.channel)
    )


HANDLERS: dict[type, Callable[[Any, Asker, Services], Message]] = {
    cmd.Latest: _latest,
    cmd.Runs: _runs,
    cmd.Show: _show,
    cmd.Top: _top,
    cmd.Compare: _compare,
    cmd.Jobs: _jobs,
    cmd.Trace: _trace,
    cmd.Subscribe: _subscribe,
    cmd.Unsubscribe: _unsubscribe,
    cmd.Subscriptions: _subscriptions,
    cmd.Thresholds: _thresholds,
    cmd.Mute: _mute,
    cmd.Unmute: _unmute,
    cmd.Mutes: _mutes,
    cmd.Help: _help,
}
