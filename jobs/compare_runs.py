"""Thin job functions: each calls one service and logs the outcome. Logic lives in services."""

from __future__ import annotations

import logging

from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogRateLimited
from bot.services.alerts import AlertService, CycleReport
from bot.services.early import EarlyWarningService
from bot.slack.notifier import SlackNotifier

logger = logging.getLogger(__name__)


def check_runs_job(alerts: AlertService, posthog: PostHogClient | None = None) -> None:
    """Find new clustering runs, compare, store and send alerts.

    With the cycle's PostHog client: while PostHog throttles the key for longer than the client
    retries, the cycle is skipped (no request is sent) and the log says when it resumes; a
    cycle cut short by a throttle or a spent budget says so too (the cycle itself when it ended
    early, `alerts.cycle.ended_early`, else here), and the next cycle picks up the series it
    missed."""
    if posthog is None:
        alerts.run_cycle()
        return
    resume_at = posthog.gate.resume_at
    if resume_at is not None:
        logger.warning("alerts.cycle.postponed", extra={"resume_at": resume_at.isoformat()})
        return
    posthog.stopped_by = None
    report: CycleReport | None = None
    try:
        report = alerts.run_cycle()
    except PostHogRateLimited as error:
        posthog.stopped_by = error
    said = report is not None and report.ended_early is not None
    if posthog.stopped_by is not None and not said:
        logger.warning("alerts.cycle.cut_short", extra={"reason": str(posthog.stopped_by)})


def early_warnings_job(early: EarlyWarningService, posthog: PostHogClient | None = None) -> None:
    """Settle early warnings the daily runs decided and check the series that are due; skipped
    while PostHog throttles the key (the next tick tries again)."""
    if posthog is not None and posthog.gate.resume_at is not None:
        logger.warning(
            "early.check.postponed", extra={"resume_at": posthog.gate.resume_at.isoformat()}
        )
        return
    early.run_due()


def deliver_outbox_job(notifier: SlackNotifier) -> None:
    """Retry what Slack did not take last time (rate limits, outages) between cycles."""
    notifier.deliver()
