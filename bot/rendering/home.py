"""The App Home tab: health first, then each channel that gets alerts with its settings.

Everything leaves through `finish_view` (bot/rendering/views.py): 100 blocks at most, texts cut to
Slack's limits. Channel names are `<#C…>` mentions we build; mute titles are LLM-written and
escaped.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.domain.thresholds import ThresholdSpec
from bot.rendering import blocks as bk
from bot.rendering.views import action_button, finish_view
from bot.services.home import ChannelHome, Health, HomeView
from bot.slack.escape import escape_mrkdwn
from bot.slack.view_ids import ChannelRef, HomeAction

USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
MUTES_SHOWN = 5  # per channel; the unmute modal lists them all (up to 10)


def render_home(view: HomeView) -> dict[str, object]:
    blocks: list[bk.Block] = [bk.header("clusters-bot"), *_health(view.health, view.now)]
    blocks.append({"type": "divider"})
    if not view.channels:
        blocks.append(
            bk.section(
                "No channel gets alerts yet. Set ALERT_CHANNEL, or type "
                "`/clusters subscribe` in a channel."
            )
        )
    for channel in view.channels:
        blocks += _channel(channel, admin=view.admin)
    if not view.admin:
        blocks.append(
            bk.context("Only workspace admins (or users in ADMIN_USER_IDS) can change settings.")
        )
    return finish_view({"type": "home"}, blocks, "clusters-bot settings and health")


def _health(health: Health, now: datetime) -> list[bk.Block]:
    if health.last_cycle is None:
        cycle = (
            ":warning: No alert cycle has finished yet. Check that the scheduler runs "
            "(`clusters-bot scheduler`, or `clusters-bot run`)."
        )
    else:
        age = _age(now, health.last_cycle)
        cycle = f"Last alert cycle: {health.last_cycle:%b %d %H:%M} UTC ({age} ago)."
        if health.stale:
            cycle = (
                f":warning: {cycle} That is longer than expected: check that the scheduler "
                "runs (`clusters-bot doctor`)."
            )
    budget = (
        f"PostHog queries left this hour: {health.alert_queries_left} for alerts, "
        f"{health.command_queries_left} for commands."
        if health.alert_queries_left is not None
        else ":warning: The PostHog query budget could not be read (is the database up?)."
    )
    outbox = f"Alert messages waiting to be posted: {health.waiting}."
    if health.waiting:
        outbox += (
            " They go out on the next delivery; if the number stays up, Slack is refusing them."
        )
    lines = [cycle, budget, outbox]
    if health.failed:
        reasons = ", ".join(f"{count} × {escape_mrkdwn(r)}" for r, count in health.failed_reasons)
        lines.append(
            f":warning: Alert messages that could not be delivered: {health.failed} ({reasons}). "
            "`clusters-bot doctor` checks the setup; for `not_in_channel` or "
            "`channel_not_found`, invite the bot with `/invite @clusters-bot`."
        )
    if health.detector_failures:
        lines.append(
            f":warning: Detector tests that failed: {health.detector_failures} (latest: "
            f"{escape_mrkdwn(health.detector_last_failure)}). Each cost only that cluster's "
            "test; the run's other alerts went out. The scheduler's log has the details."
        )
    return [bk.section("*Health*\n" + "\n".join(lines))]


def _age(now: datetime, then: datetime) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def _channel(home: ChannelHome, *, admin: bool) -> list[bk.Block]:
    ref = ChannelRef(channel=home.channel)
    default = " (the default alert channel)" if home.is_default else ""
    subscriptions = (
        "\n".join(f"• {escape_mrkdwn(line)}" for line in home.subscriptions)
        or "• nothing (unsubscribed)"
    )
    edit_subs = action_button("Edit subscriptions", HomeAction.EDIT_SUBSCRIPTIONS, ref)
    blocks: list[bk.Block] = [
        bk.section(
            f"*<#{home.channel}>*{default}\nAlerts for:\n{subscriptions}",
            accessory=edit_subs if admin else None,
        )
        | {"block_id": f"{home.channel}.subscriptions"},
        bk.section(_thresholds_text(home.changed, home.quiet_summary)),
    ]
    buttons = [action_button("All thresholds", HomeAction.ALL_THRESHOLDS, ref)]
    if admin:
        buttons.append(action_button("Edit thresholds", HomeAction.EDIT_THRESHOLDS, ref))
        if home.mutes:
            buttons.append(action_button("Unmute…", HomeAction.UNMUTE, ref))
    blocks.append(bk.actions(*buttons) | {"block_id": f"{home.channel}.actions"})
    if home.mutes:
        shown = [
            f"• {escape_mrkdwn(m.title)} until {m.until:%b %d %H:%M} UTC{_by(m.created_by)}"
            for m in home.mutes[:MUTES_SHOWN]
        ]
        more = len(home.mutes) - MUTES_SHOWN
        if more > 0:
            shown.append(f"…and {more} more (`/clusters mutes` in the channel lists them)")
        blocks.append(bk.section("*Muted clusters*\n" + "\n".join(shown)))
    blocks.append({"type": "divider"})
    return blocks


def _by(user: str) -> str:
    return f" (by <@{user}>)" if USER_ID.fullmatch(user) else ""


def _thresholds_text(changed: tuple[ThresholdSpec, ...], quiet_summary: bool) -> str:
    lines = [
        f"• `{spec.name}={spec.value:g}` (default {spec.default:g}): {spec.description}"
        for spec in changed
    ]
    if quiet_summary:
        lines.append("• `quiet_summary=on` (default off): a short note for runs without changes.")
    if not lines:
        return "Thresholds: all at their defaults."
    return "*Thresholds changed here*\n" + "\n".join(lines)
