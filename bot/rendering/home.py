"""The App Home tab: health first, then each channel that gets alerts with its settings.

Channels come a page at a time (`CHANNELS_PER_PAGE`, bot/services/home.py), with buttons to
the pages next to it, so every channel can be reached and none is cut. Everything leaves through
`finish_view` (bot/rendering/views.py): 100 blocks at most, texts cut to Slack's limits.
Channel names are `<#C…>` mentions we build; mute titles are LLM-written and escaped.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.domain.thresholds import ThresholdSpec
from bot.rendering import blocks as bk
from bot.rendering.views import View, action_button, finish_view
from bot.slack.escape import SafeMrkdwn, md, md_join
from bot.slack.view_ids import HOME_PAGE, ChannelRef, HomeAction, HomePage
from bot.views import ChannelHome, EarlyHealth, Health, HomeView

USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
MUTES_SHOWN = 5  # per channel; the unmute modal lists them all (up to 10)


def render_home(view: HomeView) -> View:
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
    blocks += _pages(view)
    if not view.admin:
        blocks.append(
            bk.context("Only workspace admins (or users in ADMIN_USER_IDS) can change settings.")
        )
    return finish_view({"type": "home"}, blocks, "clusters-bot settings and health")


def _pages(view: HomeView) -> list[bk.Block]:
    """Where this page is among the channels, and buttons to the pages next to it."""
    if view.pages <= 1:
        return []
    first = view.page * view.per_page + 1
    last = first + len(view.channels) - 1
    count = view.channel_count if view.channel_count is not None else len(view.channels)
    buttons = []
    if view.page > 0:  # action ids are unique within a view: the two buttons differ
        back = HomePage(page=view.page - 1)
        buttons.append(action_button("Previous channels", f"{HOME_PAGE}.previous", back))
    if view.page + 1 < view.pages:
        more = HomePage(page=view.page + 1)
        buttons.append(action_button("More channels", HOME_PAGE, more, style="primary"))
    where = md(
        "Channels {}–{} of {} (page {} of {})", first, last, count, view.page + 1, view.pages
    )
    return [bk.context(where), bk.actions(*buttons) | {"block_id": "home.pages"}]


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
        reasons = md_join(", ", (md("{} × {}", count, r) for r, count in health.failed_reasons))
        lines.append(
            md(
                ":warning: Alert messages that could not be delivered: {} ({}). "
                "`clusters-bot doctor` checks the setup; for `not_in_channel` or "
                "`channel_not_found`, invite the bot with `/invite @clusters-bot`.",
                health.failed,
                reasons,
            )
        )
    if health.detector_failures:
        lines.append(
            md(
                ":warning: Detector tests that failed: {} (latest: {}). Each cost only that "
                "cluster's test; the run's other alerts went out. The scheduler's log has the "
                "details.",
                health.detector_failures,
                health.detector_last_failure,
            )
        )
    if health.embeddings_fix:
        lines.append(md(":warning: PostHog's summary embeddings: {}", health.embeddings_fix))
    elif health.latest_agreement is not None:
        lines.append(
            f"Unsampled items assigned by embedding: held-out agreement "
            f"{health.latest_agreement:.0%} in the latest run (used from 80 %)."
        )
    if health.early is not None:
        early = describe_early(health.early, now)
        lines.append(md(":warning: {}" if health.early.paused_until else "{}", early))
    return [bk.section(md_join("\n", [SafeMrkdwn("*Health*"), *lines]))]


def describe_early(early: EarlyHealth, now: datetime) -> str:
    """Early warnings in one plain line (the Home tab escapes it; `clusters-bot doctor` prints
    it): on at which interval or off, the last check, the open warnings, and any pause."""
    if not early.enabled or early.interval is None:
        return "Early warnings between runs: off (EARLY_WARNING_INTERVAL=off)."
    every = _every(early.interval)
    last = (
        f"last check {early.last_check:%b %d %H:%M} UTC ({_age(now, early.last_check)} ago)"
        if early.last_check is not None
        else "no check yet"
    )
    text = (
        f"Early warnings between runs: every {every}; {last}; {early.open_warnings} open "
        "(each settled by its series' next daily run)."
    )
    if early.paused_until is not None:
        text += (
            f" Paused until {early.paused_until:%b %d %H:%M} UTC: the summary embeddings "
            f"cannot be read: {early.paused_why}"
        )
    return text


def _every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


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
    subscriptions = md_join("\n", (md("• {}", line) for line in home.subscriptions)) or md(
        "• nothing (unsubscribed)"
    )
    edit_subs = action_button("Edit subscriptions", HomeAction.EDIT_SUBSCRIPTIONS, ref)
    blocks: list[bk.Block] = [
        bk.section(
            md("*<#{}>*{}\nAlerts for:\n{}", home.channel, default, subscriptions),
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
            md("• {} until {:%b %d %H:%M} UTC{}", m.title, m.until, _by(m.created_by))
            for m in home.mutes[:MUTES_SHOWN]
        ]
        more = len(home.mutes) - MUTES_SHOWN
        if more > 0:
            shown.append(md("…and {} more (`/clusters mutes` in the channel lists them)", more))
        blocks.append(bk.section(md_join("\n", [SafeMrkdwn("*Muted clusters*"), *shown])))
    blocks.append({"type": "divider"})
    return blocks


def _by(user: str) -> SafeMrkdwn:
    return md(" (by <@{}>)", user) if USER_ID.fullmatch(user) else SafeMrkdwn("")


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
