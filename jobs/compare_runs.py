"""Thin job functions: each calls one service and logs the outcome. Logic lives in services."""

from __future__ import annotations

import logging

from bot.posthog.errors import PostHogRateLimited
from bot.services.alerts import AlertService
from bot.slack.notifier import SlackNotifier

logger = logging.getLogger(__name__)


def check_runs_job(alerts: AlertService) -> None:
    """Find new clustering runs, compare, store and send alerts.

    While PostHog throttles the key for longer than the client retries, the cycle is skipped
    (no request is sent) and the log says when it resumes; a cycle cut short by a throttle or a
    spent budget says so too, and its series are picked up by the next cycle."""
    client = alerts.runs.client
    resume_at = client.gate.resume_at
    if resume_at is not None:
        logger.warning("alerts.cycle.postponed", extra={"resume_at": resume_at.isoformat()})
        return
    client.stopped_by = None
    try:
        alerts.run_cycle()
    except PostHogRateLimited as error:
        client.stopped_by = error
    if client.stopped_by is not None:
        logger.warning("alerts.cycle.cut_short", extra={"reason": str(client.stopped_by)})


def deliver_outbox_job(notifier: SlackNotifier) -> None:
    """Retry what Slack did not take last time (rate limits, outages) between cycles."""
    notifier.deliver()
