"""What each `/clusters` row does: one service call and one render per command.

The table in `grammar.py` names each row's handler; `listeners/answer.py` checks who may run it
and calls it. Services are passed in, so importing this module starts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.commands import parsed as cmd
from bot.services.assigned_items import read_assignments
from bot.slack.membership import Membership, ensure_member

if TYPE_CHECKING:
    from bot.rendering.message import Message
    from bot.wiring import Services


@dataclass(frozen=True)
class Asker:
    channel: str
    user: str
    text: str
    shared: bool = False  # the answer goes to the whole channel ("Share in channel")


def answer_latest(c: cmd.Latest, asker: Asker, s: Services) -> Message:
    share_text = None if asker.shared else asker.text
    return s.renderer.summary(s.clusters.latest(c.level, c.job), command_text=share_text)


def answer_runs(c: cmd.Runs, asker: Asker, s: Services) -> Message:
    return s.renderer.runs(s.clusters.recent_runs(c.level, c.limit))


def answer_show(c: cmd.Show, asker: Asker, s: Services) -> Message:
    view = s.clusters.find_cluster(c.ref, c.run_id)
    assigned = read_assignments(s.store).runs.get(view.run.run_id)
    drilldown = s.drilldown.traces(view, private=not asker.shared)
    return s.renderer.cluster(view, drilldown, assigned.line if assigned else "")


def answer_top(c: cmd.Top, asker: Asker, s: Services) -> Message:
    return s.renderer.top(s.clusters.top(c.metric.value, c.level))


def answer_compare(c: cmd.Compare, asker: Asker, s: Services) -> Message:
    return s.changes.compare(s.clusters.compare(c.current, c.previous, c.level))


def answer_jobs(c: cmd.Jobs, asker: Asker, s: Services) -> Message:
    return s.renderer.jobs(s.clusters.jobs())


def answer_trace(c: cmd.Trace, asker: Asker, s: Services) -> Message:
    return s.drilldown.trace(s.clusters.trace(c.trace_id), private=not asker.shared)


def answer_subscribe(c: cmd.Subscribe, asker: Asker, s: Services) -> Message:
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


def answer_unsubscribe(c: cmd.Unsubscribe, asker: Asker, s: Services) -> Message:
    return s.renderer.notice(s.channel_settings.unsubscribe(asker.channel, c.level, c.job))


def answer_subscriptions(c: cmd.Subscriptions, asker: Asker, s: Services) -> Message:
    lines = s.channel_settings.describe_subscriptions(asker.channel)
    return s.renderer.lines("Alert subscriptions in this channel", lines)


def answer_thresholds(c: cmd.Thresholds, asker: Asker, s: Services) -> Message:
    if c.overrides or c.reset:
        note = s.channel_settings.set_thresholds(
            asker.channel, c.overrides, asker.user, reset=c.reset
        )
        return s.renderer.lines(note, s.channel_settings.describe_thresholds(asker.channel))
    return s.renderer.lines(
        "Alert thresholds in this channel", s.channel_settings.describe_thresholds(asker.channel)
    )


def answer_mute(c: cmd.Mute, asker: Asker, s: Services) -> Message:
    note = s.channel_settings.mute(asker.channel, None, c.ref, c.duration, asker.user)
    return s.renderer.notice(note)


def answer_unmute(c: cmd.Unmute, asker: Asker, s: Services) -> Message:
    return s.renderer.notice(s.channel_settings.unmute(asker.channel, c.ref))


def answer_mutes(c: cmd.Mutes, asker: Asker, s: Services) -> Message:
    return s.renderer.lines(
        "Muted clusters in this channel", s.channel_settings.describe_mutes(asker.channel)
    )
