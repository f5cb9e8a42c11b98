"""Thin job functions: each calls one service and logs the outcome. Logic lives in services."""

from __future__ import annotations

import logging

from bot.services.alerts import AlertService
from bot.slack.notifier import SlackNotifier

logger = logging.getLogger(__name__)


def check_runs_job(alerts: AlertService) -> None:
    """Find new clustering runs, compare, store and send alerts."""
    alerts.run_cycle()


def deliver_outbox_job(notifier: SlackNotifier) -> None:
    """Retry what Slack did not take last time (rate limits, outages) between cycles."""
    notifier.deliver()
