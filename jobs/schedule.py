"""The scheduler: APScheduler 3, UTC, explicit job ids, one instance per job at a time.

Run exactly one scheduler process per deployment (Procfile `clock`); APScheduler 3 has no
interprocess coordination (reference/tooling.md 3).
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.wiring import Services
from jobs.compare_runs import check_runs_job, deliver_outbox_job

CHECK_RUNS_JOB_ID = "alerts.check_runs"
DELIVER_OUTBOX_JOB_ID = "alerts.deliver_outbox"
OUTBOX_RETRY_SECONDS = 30


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
        IntervalTrigger(seconds=min(OUTBOX_RETRY_SECONDS, poll), timezone=UTC),
        id=DELIVER_OUTBOX_JOB_ID,
        name="Retry undelivered Slack messages",
        args=[services.notifier],
        replace_existing=True,
    )
    return scheduler
