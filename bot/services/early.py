"""Early warnings between daily runs: every `EARLY_WARNING_INTERVAL`, the items summarized since
each series' latest processed run, placed in its clusters and tested against them.

One check (`run_due`) does what is due at that moment:

1. **Settle** the warnings whose series has processed its next run and that the alert cycle
   did not settle with that run (`early_settle`; the cycle settles nearly all, and makes the
   warning's thread the confirming alert's home): confirmed in the warning's thread when that
   run's daily detection alerts the same cluster and family, else retracted where the run's
   own items rule it out and left undecided where they are too few to (a note in its thread,
   and the warning itself edited to say so).
2. **Check** each series whose last check is an interval old: one query for every such series
   at once says which have new summaries (`bot.posthog.early.summary_counts`); a series with
   none costs nothing more. For the others, one query places the new items in the run's
   clusters, with the run's held-out items to measure agreement (the same margin, radius and
   `usable` rule as `AssignmentService`), and brings the new items' values; the pure tests of
   `bot.domain.early` decide, per channel under its thresholds. A warning is stored with its
   message in the outbox in one transaction, so it is posted once, across restarts.

Budget: at most 1 + (series with new summaries) queries per interval, so at most two per series
per hour at the default interval; none but the count when nothing new arrived. When the
embeddings cannot be read, the check logs it once per reason and the bot works as without early
warnings; a throttle or a spent budget ends the check early, to be retried at the next one. Each
check with series due records when it ran and any pause (`early_health`), for the Home tab and
`clusters-bot doctor`.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain.early import Finding, NewItems, baselines, checks_counted, early_findings
from bot.domain.models import ClusteringRun, ClusterItem, RunSummary, SeriesKey
from bot.posthog.client import PostHogClient
from bot.posthog.early import EarlyProbe, fetch_early_probes, summary_counts
from bot.posthog.embeddings import DOCUMENT_TYPES, SUMMARY_EMBEDDING_MODEL
from bot.posthog.errors import PostHogError, PostHogRateLimited
from bot.rendering.early import EarlyRenderer
from bot.services.assignment import (
    MARGIN,
    MIN_AGREEMENT,
    AssignmentStatus,
    Unavailable,
    classify,
    summarize,
)
from bot.services.early_health import EarlyPause, record_early_check
from bot.services.early_settle import Settler
from bot.services.routing import Routing, thresholds_for
from bot.services.runs import RunRepository
from bot.slack.notifier import Notifier
from bot.store.keys import EarlyWarningKey
from bot.store.ports import EarlyWarningState
from bot.store.store import OutgoingMessage

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = timedelta(hours=1)
# A scheduler tick a little early still counts: checks do not drift by one tick each hour.
TOLERANCE = timedelta(minutes=2)
SERIES_LEASE = timedelta(minutes=10)
PAUSE = timedelta(hours=6)  # after a missing table or a refused key, before asking again


@dataclass
class EarlyReport:
    series_due: int = 0
    series_quiet: int = 0  # due, but no new summaries: no query beyond the count
    series_checked: int = 0
    unusable: list[str] = field(default_factory=list)  # series whose assignment was not usable
    warnings: int = 0
    confirmed: int = 0
    retracted: int = 0
    undecided: int = 0  # neither confirmed nor ruled out by the next run (`early_settle`)
    messages_stored: int = 0
    queries: int = 0
    ended_early: str | None = None


@dataclass
class EarlyWarningService:
    runs: RunRepository
    store: EarlyWarningState
    routing: Routing
    renderer: EarlyRenderer
    client: PostHogClient
    notifier: Notifier | None = None
    interval: timedelta | None = DEFAULT_INTERVAL
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    model_name: str = SUMMARY_EMBEDDING_MODEL
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    _logged: set[Unavailable] = field(default_factory=set)
    _paused_until: datetime | None = None
    _paused_for: Unavailable = Unavailable.MISSING

    @property
    def enabled(self) -> bool:
        return self.interval is not None and self.interval > timedelta(0)

    @property
    def checks_per_day(self) -> int:
        """How many times a day the same series is looked at (for the false-alert control)."""
        assert self.interval is not None
        return max(1, round(timedelta(days=1) / self.interval))

    def pause(self, now: datetime) -> EarlyPause | None:
        """The pause the checks are under at `now` (the embeddings cannot be read), if any."""
        if self._paused_until is None or now >= self._paused_until:
            return None
        return EarlyPause(self._paused_until, self._paused_for)

    def run_due(self) -> EarlyReport:
        """Settle what the daily runs decided, then check every series that is due (module
        doc). Does nothing when early warnings are off."""
        report = EarlyReport()
        if not self.enabled:
            return report
        spent = self.client.budget.spent
        now = self.clock()
        latest = self.store.latest_processed()
        settler = Settler(self.store, self.renderer)
        for series, _ in latest:
            found = settler.settle(series)
            report.confirmed += found.confirmed
            report.retracted += found.retracted
            report.undecided += found.undecided
            report.messages_stored += found.messages_stored
        due = self._due(latest, now)
        report.series_due = len(due)
        try:
            if due:
                self._check_all(due, now, report)
        except PostHogRateLimited as error:
            report.ended_early = str(error) or type(error).__name__
            logger.warning("early.check.ended_early", extra={"reason": report.ended_early})
        if due:
            record_early_check(self.store, now, self.pause(now))
        report.queries = self.client.budget.spent - spent
        if report.messages_stored and self.notifier is not None:
            self.notifier.deliver()
        logger.log(
            logging.INFO
            if report.warnings or report.confirmed or report.retracted or report.undecided
            else logging.DEBUG,
            "early.check.completed",
            extra={
                "series_due": report.series_due,
                "series_checked": report.series_checked,
                "warnings": report.warnings,
                "confirmed": report.confirmed,
                "retracted": report.retracted,
                "undecided": report.undecided,
                "queries": report.queries,
            },
        )
        return report

    # -- checking ------------------------------------------------------------------------------

    def _due(self, latest: Sequence[tuple[SeriesKey, str]], now: datetime) -> list[RunSummary]:
        """The latest run of each series due for a check, without its items: series are then
        checked one after another, each run loaded for its check and let go after it."""
        assert self.interval is not None
        due = []
        for series, run_id in latest:
            if series.level not in DOCUMENT_TYPES:
                continue
            check = self.store.early_check(series)
            if check is not None and check.run_id == run_id:
                if now - check.checked_at < self.interval - TOLERANCE:
                    continue
            run = self.store.get_summary(run_id)  # processed, so stored: no query
            if run is None or run.window_end is None or now <= run.window_end:
                continue
            due.append(run)
        return due

    def _check_all(self, due: list[RunSummary], now: datetime, report: EarlyReport) -> None:
        if self._paused_until is not None and now < self._paused_until:
            return  # the embeddings cannot be read here (logged once); asked again later
        since = min(run.window_end for run in due if run.window_end is not None)
        try:
            counts = summary_counts(self.client, due, since=since, until=now)
        except PostHogRateLimited:
            raise
        except PostHogError as error:
            self._unavailable(due[0], error, now)
            return
        for run in due:
            assert run.window_end is not None
            check = self.store.early_check(run.series)
            mark = run.window_end
            if check is not None and check.run_id == run.run_id and check.newest_summary:
                mark = max(mark, check.newest_summary)
            _, newest = counts.get((run.level, run.job_id), (0, None))
            if newest is None or newest <= mark:
                report.series_quiet += 1
                kept = check.newest_summary if check and check.run_id == run.run_id else None
                self.store.record_early_check(run.series, run.run_id, now, kept)
                continue
            if not self.store.acquire_series(run.series, self.owner, SERIES_LEASE):
                continue  # the alert cycle (or another process) is on this series
            try:
                if self.store.processed_run_after(run) is not None:
                    continue  # the next run came in meanwhile: a warning now would be stale
                full = self.store.get_run(run.run_id)
                if full is not None:
                    self._check(full, now, newest, report)
            finally:
                self.store.release_series(run.series, self.owner)

    def _check(
        self, run: ClusteringRun, now: datetime, newest: datetime, report: EarlyReport
    ) -> None:
        try:
            probes = fetch_early_probes(self.client, run, until=now, model_name=self.model_name)
        except PostHogRateLimited:
            raise
        except PostHogError as error:
            self._unavailable(run, error, now)
            self.store.record_early_check(run.series, run.run_id, now, None)
            return
        report.series_checked += 1
        new = new_items(run, probes, now)
        if new is None:
            report.unusable.append(str(run.series))
            self.store.record_early_check(run.series, run.run_id, now, newest)
            return
        baseline = baselines(run, self.store.previous_run(run))
        warnings: dict[str, list[tuple[int, str, dict[str, object], OutgoingMessage]]] = {}
        for channel in self.routing.channels_for(run):
            thresholds = thresholds_for(self.store.thresholds(channel))
            division = checks_counted(self.checks_per_day)
            findings = early_findings(baseline, new, thresholds, division=division)
            fresh = self._worth_posting(channel, run, findings, now)
            if fresh:
                warnings[channel] = [self._warning(run, f, now) for f in fresh]
                report.warnings += len(fresh)
        if warnings:
            report.messages_stored += self.store.record_early_warnings(run, warnings)
        self.store.record_early_check(run.series, run.run_id, now, newest)

    def _worth_posting(
        self, channel: str, run: ClusteringRun, findings: list[Finding], now: datetime
    ) -> list[Finding]:
        """Findings not posted already, not on a muted cluster, and not a change the daily
        alerts already follow (an open episode of the same family on the cluster)."""
        if not findings:
            return []
        muted = {m.cluster_id for m in self.store.active_mutes(channel, now, run.run_id)}
        episodes = {
            (e.cluster_id, e.family)
            for e in self.store.open_episodes(channel, run.series)
            if e.run_id == run.run_id
        }
        return [
            f
            for f in findings
            if f.cluster_id not in muted
            and (f.cluster_id, f.family) not in episodes
            and not self.store.has_early_warning(channel, run.run_id, f.cluster_id, f.kind.value)
        ]

    def _warning(
        self, run: ClusteringRun, finding: Finding, now: datetime
    ) -> tuple[int, str, dict[str, object], OutgoingMessage]:
        message = self.renderer.warning(run, finding, now)
        key = EarlyWarningKey(run.run_id, finding.cluster_id, finding.kind).encode()
        payload: dict[str, object] = {
            "kind": finding.kind.value,
            "title": finding.title,
            "before": finding.before,
            "after": finding.after,
            "items_before": finding.items_before,
            "items_after": finding.items_after,
            "p_value": finding.p_value,
            "start": finding.start.isoformat(),
            "posted_at": now.isoformat(),
            "hours": round(finding.hours(now), 2),
        }
        outgoing = OutgoingMessage(key, message.text, message.blocks)
        return finding.cluster_id, finding.kind.value, payload, outgoing

    def _unavailable(self, run: RunSummary, error: PostHogError, now: datetime) -> None:
        """Log each reason once; where asking again cannot help soon (no embeddings table, a
        key without access), pause the checks for `PAUSE` so the bot spends no query on them."""
        reason = classify(error)
        if reason in (Unavailable.MISSING, Unavailable.DENIED):
            self._paused_until, self._paused_for = now + PAUSE, reason
        if reason not in self._logged:
            self._logged.add(reason)
            logger.warning(
                "early.check.unavailable",
                extra={"run_id": run.run_id, "reason": reason.value, "error": str(error)},
            )


def new_items(run: ClusteringRun, probes: Sequence[EarlyProbe], now: datetime) -> NewItems | None:
    """The new items of `run`'s series placed in its clusters, with their values, or None when
    the held-out agreement is not good enough to count them (`assignment.summarize`)."""
    assert run.window_end is not None
    result = summarize(
        run.run_id, [p.probe for p in probes], margin=MARGIN, min_agreement=MIN_AGREEMENT
    )
    if result.status is not AssignmentStatus.ASSIGNED or not result.usable:
        return None
    values = {p.probe.item_id: p.values for p in probes if p.values is not None}
    assigned: dict[int, list[ClusterItem]] = {}
    for item in result.assigned:
        found = values.get(item.item_id)
        assigned.setdefault(item.cluster_id, []).append(
            ClusterItem(
                item_id=item.item_id,
                trace_id=item.item_id,
                rank=0,
                timestamp=item.item_time,
                cost=found.cost if found else None,
                latency=found.latency if found else None,
                tokens=found.tokens if found else None,
                errors=found.errors if found else None,
                output_tokens=found.output_tokens if found else None,
            )
        )
    return NewItems(
        since=run.window_end,
        until=now,
        assigned=assigned,
        unassigned=result.unassigned,
        held_out=result.held_out,
        held_out_unassigned=result.held_out - result.held_out_assigned,
    )
