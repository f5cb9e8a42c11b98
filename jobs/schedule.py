"""The scheduler: APScheduler 3, UTC, explicit job ids, one instance per job at a time.

One scheduler process per deployment is enough (Procfile `clock`). More are safe, for example
a replica that also runs `clusters-bot run`: APScheduler 3 does not coordinate processes
(reference/tooling.md 3), but the store does. Each series is leased to one process per cycle and
each outbox row is claimed by compare-and-swap, so every alert is posted once
(tests/ops/test_replicas.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.wiring import Services
from jobs.compare_runs import check_runs_job, deliver_outbox_job, early_warnings_job

CHECK_RUNS_JOB_ID = "alerts.check_runs"
DELIVER_OUTBOX_JOB_ID = "alerts.deliver_outbox"
EARLY_WARNINGS_JOB_ID = "alerts.early_warnings"


def build_scheduler(services: Services, *, background: bool = False) -> BaseScheduler:
    poll = services.settings.poll_interval_seconds
    scheduler_class = BackgroundScheduler if background else BlockingScheduler
    scheduler = scheduler_class(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": poll},
    )
    scheduler.add_job(
        check_runs_job,
        IntervalTrigger(seconds=poll, timezone=UTC),
        id=CHECK_RUNS_JOB_ID,
        name="Find new clustering runs and alert",
        args=[services.alerts],
        kwargs={"posthog": services.posthog},  # its throttle gate: skip cycles while closed
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )
    scheduler.add_job(
        deliver_outbox_job,
        IntervalTrigger(seconds=min(services.settings.outbox_retry_seconds, poll), timezone=UTC),
        id=DELIVER_OUTBOX_JOB_ID,
        name="Retry undelivered Slack messages",
        args=[services.notifier],
        replace_existing=True,
    )
    interval = services.settings.early_warning_interval
    if interval is not None:
        # Each tick does only what is due (each series once an interval): ticking at the poll
        # interval keeps a check within minutes of its time without costing anything between.
        scheduler.add_job(
            early_warnings_job,
            IntervalTrigger(seconds=min(poll, interval.total_seconds()), timezone=UTC),
            id=EARLY_WARNINGS_JOB_ID,
            name="Early warnings between daily runs",
            args=[services.early],
            kwargs={"posthog": services.posthog},
            replace_existing=True,
        )
    return scheduler
