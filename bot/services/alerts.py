"""One alert cycle: find new runs and carry each from PostHog to Slack.

The path of one run is one-way: load the run and its predecessor -> match clusters
(`compare.diff_runs`) -> split fresh items from the baseline (`fresh.slice_run`) -> add the
run's assigned items to its fresh slices (`assigned_items.py`, when an enlarger is given) ->
test and control false discoveries (`fresh.detect`) -> apply each channel's alert lifecycle
(`lifecycle.advance`) -> render -> outbox. Every step but loading, assigning and the outbox is
pure; follow-up notes in earlier alerts' threads and mutes are in `alert_threads.py`.

Early warnings on the run before are settled with the run (`early_settle.verdicts`, when an
early renderer is given), in its transaction: an alert that confirms a warning lives in the
warning's thread (the confirmation, then its detail, then its later runs' follow-ups), and the
run's message lists it as first warned early. One thread per problem, from its first warning.

Queries per cycle: one to list runs; the new runs load several to a query (about ten runs of
1,500 items), and their items' own values come from one query per shared window (runs of one
level and day share one); the predecessor comes from the store. A series seen for the first time
compares only its newest run with the run before it (loaded in the same batches; when it lacks
embedded metrics, its window's values are one more query), so installing the bot never
replays history as a burst of alerts. After the bot was down longer than the look-back, the
oldest new run's true predecessor is asked of PostHog (one query). Assigning a trace or
generation run's unsampled fresh items costs one query, reading their values one more.

A run that fails to load is retried on the next cycles, holding back the later runs of its
series; after `RUN_ATTEMPTS` failures it is skipped with a notice where its alerts would go.
A run that arrives late (older than one already processed) is still processed, once.

When PostHog throttles the key for longer than the client retries, or a query budget is spent,
the cycle ends early: no further series is started (each would fail the same way), the run it
was on is not counted as a failure (it is not the run's fault), and the report says when
queries resume; the next cycle picks up where this one stopped. After `stop()` (SIGTERM) the
cycle ends at the next series or run boundary and delivers nothing.
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

from bot.domain.alerts import Alert
from bot.domain.compare import diff_runs
from bot.domain.fresh_base import TestFailure
from bot.domain.lifecycle import Episode, advance
from bot.domain.models import RunSummary, SeriesKey
from bot.domain.run_view import RunView
from bot.posthog.budget import Budget
from bot.posthog.errors import (
    PostHogBudgetExhausted,
    PostHogError,
    PostHogRateLimited,
    PostHogThrottled,
)
from bot.rendering.changes import ChangeRenderer
from bot.rendering.early import EarlyRenderer
from bot.services.alert_threads import muted_clusters, update_messages
from bot.services.assigned_items import FreshEnlarger
from bot.services.causes import CauseService
from bot.services.detector_health import record_failures
from bot.services.early_settle import Verdicts, verdicts
from bot.services.routing import QUIET_SUMMARY, Routing, thresholds_for
from bot.services.runs import RunRepository
from bot.slack.notifier import DeliveryReport, Notifier
from bot.store.early import EarlyWarning
from bot.store.keys import AlertKey, ResetKey, RunKey, SkippedKey, parse_key
from bot.store.ports import AlertingState
from bot.store.store import OutgoingMessage

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(days=8)
# 8 days x 3 levels x 10 jobs (PostHog's per-team cap) fits, with room for manual runs.
LOOKBACK_RUNS_MAX = 1000
SERIES_LEASE = timedelta(minutes=10)  # longer than any one series takes; a dead owner's expires
HEARTBEAT = "scheduler"
RUN_ATTEMPTS = 3
# PostHog will not be asked for a while: the cycle ends early, no run is blamed.
STOPS = (PostHogThrottled, PostHogBudgetExhausted)


@dataclass
class CycleReport:
    runs_seen: int = 0
    runs_processed: list[str] = field(default_factory=list)
    runs_skipped: list[str] = field(default_factory=list)
    # "run id: error" of each run that failed to process this cycle (retried next cycle)
    runs_failed: list[str] = field(default_factory=list)
    # detector tests that raised ("share test of cluster 3: ..."): each cost only itself
    test_failures: list[str] = field(default_factory=list)
    alerts: int = 0
    # early warnings on the run before each processed run, settled with it
    early_confirmed: int = 0
    early_retracted: int = 0
    early_undecided: int = 0
    messages_stored: int = 0
    delivery: DeliveryReport | None = None
    preview: dict[str, list[OutgoingMessage]] = field(default_factory=dict)
    # Why the cycle stopped before its last series (PostHog throttling, a spent budget), and
    # when PostHog queries resume (None: unknown, the next cycle tries again).
    ended_early: str | None = None
    resume_at: datetime | None = None


class AlertService:
    def __init__(
        self,
        runs: RunRepository,
        store: AlertingState,
        routing: Routing,
        renderer: ChangeRenderer,
        notifier: Notifier | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        causes: CauseService | None = None,
        budget: Budget | None = None,
        enlarger: FreshEnlarger | None = None,
        early: EarlyRenderer | None = None,
    ) -> None:
        self.early = early  # settles early warnings with the run after theirs (module doc)
        self.causes = causes  # likely causes in each alert's thread (one query per run)
        self.enlarger = enlarger  # assigned items in the fresh slices (two queries per run)
        self.budget = budget  # PostHog's query budget, for the cycle's log line
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
        by_series = _by_series(summaries)
        try:
            self._prefetch(by_series)
        except STOPS as error:
            self._end_early(report, error)
        except PostHogError as error:  # each run is then loaded, and fails, on its own
            logger.warning("alerts.prefetch.failed", extra={"error": repr(error)[:300]})
        for series, newest_first in by_series.items():
            if self._stopping.is_set() or report.ended_early is not None:
                break
            if not self._pending(series, newest_first):
                continue
            if not dry_run and not self.store.acquire_series(series, self.owner, SERIES_LEASE):
                continue  # another scheduler is on it
            try:
                self._process_series(series, newest_first, report, dry_run=dry_run)
            except STOPS as error:
                self._end_early(report, error)  # the run is retried when PostHog allows
            finally:
                if not dry_run:
                    self.store.release_series(series, self.owner)
        # Delivery needs Slack, not PostHog: what earlier series stored still goes out.
        if not dry_run and self.notifier is not None and not self._stopping.is_set():
            report.delivery = self.notifier.deliver()
        if not dry_run:
            self.store.beat(HEARTBEAT, f"runs_processed={len(report.runs_processed)}")
        news = report.runs_processed or report.alerts or report.ended_early is not None
        logger.log(  # a cycle that found nothing new is routine: DEBUG
            logging.INFO if news else logging.DEBUG,
            "alerts.cycle.completed",
            extra={
                "runs_seen": report.runs_seen,
                "runs_processed": len(report.runs_processed),
                "alerts": report.alerts,
                "queries_spent": self.budget.spent if self.budget else None,
                "ended_early": report.ended_early,
            },
        )
        return report

    def _prefetch(self, by_series: dict[SeriesKey, list[RunSummary]]) -> None:
        """Load every run this cycle will read (pending runs and the listed run before each),
        and the pending runs' item values, in a few batched queries rather than per run."""
        needed: list[RunSummary] = []
        pending: set[str] = set()
        for series, newest_first in by_series.items():
            for run in self._pending(series, newest_first):
                index = newest_first.index(run)
                needed += newest_first[index : index + 2]
                pending.add(run.run_id)
        self.runs.prefetch(needed, with_values=pending)

    def _end_early(self, report: CycleReport, error: PostHogRateLimited) -> None:
        """PostHog will not be asked for a while (a throttle longer than the client retries,
        or a spent budget): every further series would fail the same way, so the cycle stops."""
        report.ended_early = str(error) or type(error).__name__
        if isinstance(error, PostHogThrottled):
            report.resume_at = error.resume_at
        elif error.retry_after is not None:
            report.resume_at = self.clock() + timedelta(seconds=error.retry_after)
        logger.warning(
            "alerts.cycle.ended_early",
            extra={
                "reason": report.ended_early,
                "resume_at": report.resume_at.isoformat() if report.resume_at else None,
            },
        )

    def _process_series(
        self,
        series: SeriesKey,
        newest_first: list[RunSummary],
        report: CycleReport,
        *,
        dry_run: bool,
    ) -> None:
        """The series' pending runs, oldest first. A long throttle or a spent budget (`STOPS`)
        ends the cycle, uncounted; any other failure counts against the run (`_give_up`)."""
        # Re-read the progress under the lease: another process may have just moved it.
        pending = self._pending(series, newest_first)
        first_sight = self.store.processed_runs(series) is None
        seen = [r for r in newest_first if r not in pending] if first_sight else []
        for summary in pending:
            if self._stopping.is_set():
                return  # the next run of this series waits for the next cycle
            index = newest_first.index(summary)
            listed = newest_first[index + 1] if index + 1 < len(newest_first) else None
            try:
                self._process(summary, listed, report, dry_run=dry_run, seen=seen)
            except STOPS:
                raise  # not the run's fault: no failed attempt is counted
            except Exception as error:
                logger.exception("alerts.run.failed", extra={"run_id": summary.run_id})
                report.runs_failed.append(f"{summary.run_id}: {error or type(error).__name__}")
                if dry_run or not self._give_up(summary, error, report):
                    return  # keep the series in order: later runs wait for this one

    def _pending(self, series: SeriesKey, newest_first: list[RunSummary]) -> list[RunSummary]:
        """The series' runs still to alert on, oldest first: every listed run not yet dealt
        with (late arrivals included), or only the newest for a series never seen, so that
        installing the bot never replays history as a burst of alerts."""
        done = self.store.processed_runs(series)
        if done is None:
            return newest_first[:1]
        return [run for run in reversed(newest_first) if run.run_id not in done]

    def _give_up(self, summary: RunSummary, error: Exception, report: CycleReport) -> bool:
        """Count a failure; after `RUN_ATTEMPTS` say so where alerts go and skip the run."""
        reason = str(error) or type(error).__name__
        attempts = self.store.run_failed(summary, reason, give_up_after=RUN_ATTEMPTS)
        if attempts < RUN_ATTEMPTS:
            return False
        notice = self.renderer.run_skipped(summary, attempts, reason)
        message = OutgoingMessage(SkippedKey(summary.run_id).encode(), notice.text, notice.blocks)
        channels = {channel: [message] for channel in self.routing.channels_for(summary)}
        report.messages_stored += self.store.record_run_alerts(summary, channels, skipped=True)
        report.runs_skipped.append(summary.run_id)
        return True

    def _process(
        self,
        summary: RunSummary,
        listed: RunSummary | None,
        report: CycleReport,
        *,
        dry_run: bool,
        seen: list[RunSummary],
    ) -> None:
        previous = self.runs.predecessor(summary, listed)
        run = self.runs.get(summary.run_id, with_values=True)
        outgoing: dict[str, list[OutgoingMessage]] = {}
        episodes: dict[str, list[Episode]] = {}
        failed: dict[str, TestFailure] = {}  # a test that raised, once however many channels
        settled: list[tuple[int, str]] = []
        if previous is not None:
            cursor = self.store.series_cursor(run.series)
            late = cursor is not None and run.timestamp <= cursor
            view = RunView.of(diff_runs(previous, run))
            if self.enlarger is not None:
                view = self.enlarger.enlarge(view, run)
            warnings = self._warnings(previous.run_id, run.series) if not late else []
            for channel in self.routing.channels_for(run):
                messages, open_now, found = self._channel(
                    channel,
                    view,
                    late=late,
                    dry_run=dry_run,
                    failed=failed,
                    warnings=[w for w in warnings if w.channel == channel],
                )
                settled += found.settled
                report.early_confirmed += found.confirmed
                report.early_retracted += found.retracted
                report.early_undecided += found.undecided
                if messages:
                    outgoing[channel] = messages
                    report.alerts += sum(
                        1 for m in messages if isinstance(parse_key(m.key), AlertKey)
                    )
                if not late:
                    episodes[channel] = open_now
        report.runs_processed.append(run.run_id)
        report.test_failures.extend(str(f) for f in failed.values())
        if dry_run:
            report.preview.update({f"{ch} {run.run_id}": m for ch, m in outgoing.items()})
            return
        report.messages_stored += self.store.record_run_alerts(
            run, outgoing, episodes=episodes, seen=seen, settled=settled
        )
        record_failures(self.store, run.run_id, list(failed.values()))

    def _warnings(self, previous_id: str, series: SeriesKey) -> list[EarlyWarning]:
        """The open early warnings on the run before the one being processed, which it settles;
        none when no early renderer is given (then `early_settle.Settler` settles them)."""
        if self.early is None:
            return []
        return [w for w in self.store.open_early_warnings(series) if w.run_id == previous_id]

    def _channel(
        self,
        channel: str,
        view: RunView,
        *,
        late: bool,
        dry_run: bool,
        failed: dict[str, TestFailure],
        warnings: list[EarlyWarning],
    ) -> tuple[list[OutgoingMessage], list[Episode], Verdicts]:
        """One channel's messages for a run, its open episodes after it, and its verdict on
        the channel's early warnings of the run before. A run that arrives late is alerted on,
        but cannot move episodes that later runs already followed. A test that raised costs
        only itself: it is collected in `failed`, the rest goes out."""
        settings = self.store.thresholds(channel)
        thresholds = thresholds_for(settings)
        detection = view.detect(thresholds)
        failed.update((str(f), f) for f in detection.failures)
        diff = view.diff
        parent_key = RunKey(diff.current.run_id).encode()
        prior = [] if late else self.store.open_episodes(channel, diff.current.series)
        step = advance(prior, detection, diff, thresholds, parent_key)
        muted_before, muted_now = muted_clusters(
            self.store, channel, diff, self.clock(), carry=not dry_run
        )
        fired = [
            a
            for a in step.fired
            if (a.cluster_id is None or a.cluster_id not in muted_now)
            and (a.cluster_id is not None or a.previous_cluster_id not in muted_before)
        ]
        muted_keys = {a.key for a in step.fired} - {a.key for a in fired}
        found = Verdicts()
        if warnings and self.early is not None:
            evidence = (view.slices, thresholds)
            found = verdicts(
                self.store, self.early, warnings, diff.current, evidence, detection.alerts, fired
            )
        open_now = [
            e.model_copy(update={"parent_key": found.homes[e.alert_key].key})
            if e.alert_key in found.homes
            else e
            for e in step.open
            if e.alert_key not in muted_keys
        ]
        messages = self._announcement(channel, view, fired, parent_key, settings, found)
        messages.extend(found.leftover())
        shown = [u for u in step.updates if not u.quiet and u.episode.cluster_id not in muted_now]
        messages.extend(update_messages(self.store, self.renderer, channel, shown, diff))
        return messages, open_now, found

    def _announcement(
        self,
        channel: str,
        view: RunView,
        fired: list[Alert],
        parent_key: str,
        settings: dict[str, str],
        found: Verdicts,
    ) -> list[OutgoingMessage]:
        """The run's message and, in its thread, each alert's detail; an alert that confirms
        an early warning has its detail in the warning's thread instead, after the
        confirmation, and is marked in the run's message as first warned early."""
        diff = view.diff
        if not fired:
            if view.reset is not None:
                note = self.renderer.baseline_reset(diff, view.reset)
                return [
                    OutgoingMessage(ResetKey(diff.current.run_id).encode(), note.text, note.blocks)
                ]
            if settings.get(QUIET_SUMMARY) == "on":
                quiet = self.renderer.quiet(diff)
                return [OutgoingMessage(parent_key, quiet.text, quiet.blocks)]
            return []
        causes = self.causes.for_alerts(view, fired) if self.causes else {}
        parent = self.renderer.alert_parent(
            diff, fired, reset=view.reset, causes=causes, warned=set(found.homes)
        )
        messages = [OutgoingMessage(parent_key, parent.text, parent.blocks)]
        for alert in fired:
            detail = self.renderer.alert_detail(alert, diff, causes.get(alert.key, ()))
            home = found.homes.get(alert.key)
            messages.extend(found.note_for(alert))
            thread = home.key if home is not None else parent_key
            messages.append(OutgoingMessage(alert.key, detail.text, detail.blocks, thread))
        return messages


def _by_series(summaries: list[RunSummary]) -> dict[SeriesKey, list[RunSummary]]:
    grouped: dict[SeriesKey, list[RunSummary]] = defaultdict(list)
    for summary in sorted(summaries, key=lambda s: s.timestamp, reverse=True):
        grouped[summary.series].append(summary)
    return grouped
