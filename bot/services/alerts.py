"""One alert cycle: find new runs, compare each with its predecessor, store and send alerts.

Queries per cycle: one to list runs; for each new run one to load it (plus ceil(items/1000) if
it lacks embedded metrics); the previous run comes from the store. A series seen for the first
time compares only its newest run with the run before it, so installing the bot never replays
history as a burst of alerts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain.compare import RunDiff, diff_runs
from bot.domain.models import RunSummary, SeriesKey
from bot.domain.rules import Thresholds, evaluate_rules
from bot.rendering.changes import ChangeRenderer
from bot.services.runs import RunRepository
from bot.slack.notifier import DeliveryReport, SlackNotifier
from bot.store.store import Mute, OutgoingMessage, Store

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(days=8)
# 8 days x 3 levels x 10 jobs (PostHog's per-team cap) fits, with room for manual runs.
LOOKBACK_RUNS_MAX = 1000
QUIET_SUMMARY = "quiet_summary"
SERIES_LEASE = timedelta(minutes=10)  # longer than any one series takes; a dead owner's expires
HEARTBEAT = "scheduler"


@dataclass
class CycleReport:
    runs_seen: int = 0
    runs_processed: list[str] = field(default_factory=list)
    alerts: int = 0
    messages_stored: int = 0
    delivery: DeliveryReport | None = None
    preview: dict[str, list[OutgoingMessage]] = field(default_factory=dict)


class Routing:
    """Which channels hear about a run: their subscriptions, else the default alert channel."""

    def __init__(self, store: Store, default_channel: str | None) -> None:
        self.store = store
        self.default_channel = default_channel

    def channels_for(self, run: RunSummary) -> list[str]:
        by_channel: dict[str, list[tuple[str | None, str | None, bool]]] = defaultdict(list)
        for row in self.store.subscriptions():
            by_channel[row.channel].append((row.level, row.job, row.active))
        channels = [
            channel
            for channel, rows in by_channel.items()
            if any(active and _matches(level, job, run) for level, job, active in rows)
        ]
        if self.default_channel and self.default_channel not in by_channel:
            channels.insert(0, self.default_channel)
        return channels


def _matches(level: str | None, job: str | None, run: RunSummary) -> bool:
    if level is not None and level != run.level.value:
        return False
    if job is None:
        return True
    needle = job.casefold()
    return needle in (run.job_id.casefold(), run.job_name.casefold())


class AlertService:
    def __init__(
        self,
        runs: RunRepository,
        store: Store,
        routing: Routing,
        renderer: ChangeRenderer,
        notifier: SlackNotifier | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runs = runs
        self.store = store
        self.routing = routing
        self.renderer = renderer
        self.notifier = notifier
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._running = 0
        self._idle = threading.Condition()

    def stop(self, timeout: float) -> bool:
        """Start no new cycle, series or delivery; wait up to `timeout` seconds for the running
        cycle to reach a stopping point. True when no cycle runs any more."""
        self._stopping.set()
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def run_cycle(self, *, dry_run: bool = False) -> CycleReport:
        """One cycle. Safe with several schedulers: each series is leased to one process at a
        time, outbox rows are claimed one by one, and recording a run twice stores nothing
        twice. After `stop()` it ends at the next series boundary and delivers nothing."""
        with self._idle:
            if self._stopping.is_set():
                return CycleReport()
            self._running += 1
        try:
            return self._cycle(dry_run=dry_run)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _cycle(self, *, dry_run: bool) -> CycleReport:
        report = CycleReport()
        summaries = self.runs.recent(LOOKBACK, limit=LOOKBACK_RUNS_MAX, fresh=True)
        report.runs_seen = len(summaries)
        for series, newest_first in _by_series(summaries).items():
            if self._stopping.is_set():
                break
            if not self._new_runs(series, newest_first):
                continue
            if not dry_run and not self.store.acquire_series(series, self.owner, SERIES_LEASE):
                continue  # another scheduler is on it
            try:
                self._process_series(series, newest_first, report, dry_run=dry_run)
            finally:
                if not dry_run:
                    self.store.release_series(series, self.owner)
        if not dry_run and self.notifier is not None and not self._stopping.is_set():
            report.delivery = self.notifier.deliver()
        if not dry_run:
            self.store.beat(HEARTBEAT, f"runs_processed={len(report.runs_processed)}")
        logger.info(
            "alerts.cycle.completed",
            extra={
                "runs_seen": report.runs_seen,
                "runs_processed": len(report.runs_processed),
                "alerts": report.alerts,
                "queries_spent": self.runs.client.budget.spent,
            },
        )
        return report

    def _process_series(
        self,
        series: SeriesKey,
        newest_first: list[RunSummary],
        report: CycleReport,
        *,
        dry_run: bool,
    ) -> None:
        # Re-read the cursor under the lease: another process may have just moved it.
        for summary in self._new_runs(series, newest_first):
            if self._stopping.is_set():
                return  # the next run of this series waits for the next process
            try:
                self._process(summary, report, dry_run=dry_run)
            except Exception:
                # One broken run must not stop the others; it is retried next cycle.
                logger.exception("alerts.run.failed", extra={"run_id": summary.run_id})
                return  # keep the series in order: later runs wait for this one

    def _new_runs(self, series: SeriesKey, newest_first: list[RunSummary]) -> list[RunSummary]:
        cursor = self.store.series_cursor(series)
        if cursor is None:
            return newest_first[:1]
        return [run for run in reversed(newest_first) if run.timestamp > cursor]

    def _process(self, summary: RunSummary, report: CycleReport, *, dry_run: bool) -> None:
        run = self.runs.get(summary.run_id)
        previous = self.runs.previous(run)
        outgoing: dict[str, list[OutgoingMessage]] = {}
        if previous is not None:
            diff = diff_runs(previous, run)
            for channel in self.routing.channels_for(run):
                messages = self._messages_for(channel, diff, dry_run=dry_run)
                if messages:
                    outgoing[channel] = messages
                    report.alerts += max(0, len(messages) - 1)
        report.runs_processed.append(run.run_id)
        if dry_run:
            report.preview.update({f"{ch} {run.run_id}": m for ch, m in outgoing.items()})
            return
        report.messages_stored += self.store.record_run_alerts(run, outgoing)

    def _messages_for(self, channel: str, diff: RunDiff, *, dry_run: bool) -> list[OutgoingMessage]:
        settings = self.store.thresholds(channel)
        thresholds = thresholds_for(settings)
        result = evaluate_rules(diff, thresholds)
        muted = self._muted_clusters(channel, diff, carry=not dry_run)
        alerts = [
            a
            for a in result.alerts
            if (a.cluster_id is None or a.cluster_id not in muted[1])
            and (a.cluster_id is not None or a.previous_cluster_id not in muted[0])
        ]
        run_id = diff.current.run_id
        parent_key = f"run:{run_id}"
        if not alerts:
            if settings.get(QUIET_SUMMARY) == "on":
                quiet = self.renderer.quiet(diff)
                return [OutgoingMessage(parent_key, quiet.text, quiet.blocks)]
            return []
        parent = self.renderer.alert_parent(diff, alerts, result.still_error_heavy)
        messages = [OutgoingMessage(parent_key, parent.text, parent.blocks)]
        for alert in alerts:
            detail = self.renderer.alert_detail(alert, diff)
            messages.append(OutgoingMessage(alert.key, detail.text, detail.blocks, parent_key))
        return messages

    def _muted_clusters(
        self, channel: str, diff: RunDiff, *, carry: bool
    ) -> tuple[set[int], set[int]]:
        """Cluster ids muted in (previous, current); mutes follow a cluster through matching."""
        now = self.clock()
        before = self.store.active_mutes(channel, now, diff.previous.run_id)
        carried = []
        for mute in before:
            match = diff.match_for_previous(mute.cluster_id)
            if match is not None:
                carried.append(
                    Mute(
                        channel,
                        diff.current.run_id,
                        match.current.cluster_id,
                        match.current.title,
                        mute.until,
                        mute.created_by,
                    )
                )
        if carry and carried:
            self.store.carry_mutes(channel, diff.current, carried)
        current = {m.cluster_id for m in self.store.active_mutes(channel, now, diff.current.run_id)}
        return {m.cluster_id for m in before}, current | {m.cluster_id for m in carried}


def thresholds_for(settings: dict[str, str]) -> Thresholds:
    """A channel's thresholds; a stored value that no longer validates falls back to defaults."""
    overrides = {k: v for k, v in settings.items() if k != QUIET_SUMMARY}
    try:
        return Thresholds().with_overrides(overrides)
    except ValueError:
        logger.warning("alerts.thresholds.invalid", extra={"overrides": overrides})
        return Thresholds()


def _by_series(summaries: list[RunSummary]) -> dict[SeriesKey, list[RunSummary]]:
    grouped: dict[SeriesKey, list[RunSummary]] = defaultdict(list)
    for summary in sorted(summaries, key=lambda s: s.timestamp, reverse=True):
        grouped[summary.series].append(summary)
    return grouped
