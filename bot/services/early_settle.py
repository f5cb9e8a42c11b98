"""Settling early warnings: once a series has processed the run after a warning's run, that
run's daily detection (recomputed from the two stored runs, no query) confirms the warning in
its thread when it alerts the same cluster and family (`domain.early.confirms`); otherwise the
warning is retracted: a note in its thread, and the warning edited to say so. The notes and the
new status are stored in one transaction, so a restart neither repeats nor forgets them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.compare import diff_runs
from bot.domain.early import FAMILIES, confirms
from bot.domain.fresh import Detection
from bot.domain.models import ClusteringRun, SeriesKey
from bot.domain.run_view import RunView
from bot.rendering.early import EarlyRenderer, describe
from bot.services.routing import thresholds_for
from bot.store.early import CONFIRMED, RETRACTED, EarlyWarning
from bot.store.keys import EarlyOutcomeKey, EarlyWarningKey
from bot.store.ports import EarlySettling
from bot.store.store import OutgoingMessage


@dataclass
class Settled:
    """What one pass over a series settled, and the outbox rows it added."""

    confirmed: int = 0
    retracted: int = 0
    messages_stored: int = 0


@dataclass
class Settler:
    """Settles open warnings against stored runs; asks PostHog nothing."""

    store: EarlySettling
    renderer: EarlyRenderer

    def settle(self, series: SeriesKey) -> Settled:
        """Confirm or retract the open warnings of `series` whose next run is processed."""
        report = Settled()
        warnings = self.store.open_early_warnings(series)
        for run_id in sorted({w.run_id for w in warnings}):
            base = self.store.get_run(run_id)
            if base is None:
                continue
            following = self.store.processed_run_after(base.summary)
            if following is None:
                continue  # the next daily run has not been processed yet
            current = self.store.get_run(following.run_id)
            if current is None:
                continue
            previous = self.store.previous_run(current)
            view = (
                RunView.of(diff_runs(base, current))
                if previous is not None and previous.run_id == base.run_id
                else None
            )
            settled = []
            detections: dict[str, Detection] = {}
            for warning in (w for w in warnings if w.run_id == run_id):
                confirmed_by = self._confirming(warning, view, detections)
                settled.append(self._settlement(warning, current, confirmed_by))
                if confirmed_by is None:
                    report.retracted += 1
                else:
                    report.confirmed += 1
            report.messages_stored += self.store.settle_early_warnings(current.run_id, settled)
        return report

    def _confirming(
        self, warning: EarlyWarning, view: RunView | None, detections: dict[str, Detection]
    ) -> str | None:
        """Words for the daily alert that confirms `warning`, or None when none does; each
        channel's detection of the run is computed once (`detections`)."""
        if view is None:
            return None
        detection = detections.get(warning.channel)
        if detection is None:
            thresholds = thresholds_for(self.store.thresholds(warning.channel))
            detection = detections[warning.channel] = view.detect(thresholds)
        kind = next(k for k in FAMILIES if k.value == warning.kind)
        for alert in detection.alerts:
            if confirms(kind, warning.cluster_id, alert):
                before = alert.before if alert.before is not None else 0.0
                after = alert.after if alert.after is not None else 0.0
                return (
                    describe(alert.kind, before, after).lower()
                    if alert.kind in FAMILIES
                    else (alert.kind.value.replace("_", " "))
                )
        return None

    def _settlement(
        self, warning: EarlyWarning, run: ClusteringRun, confirmed_by: str | None
    ) -> tuple[EarlyWarning, str, list[OutgoingMessage]]:
        confirmed = confirmed_by is not None
        note = self.renderer.settled(run, confirmed=confirmed, alert=confirmed_by or "")
        status = CONFIRMED if confirmed else RETRACTED
        messages = [
            OutgoingMessage(
                EarlyOutcomeKey(status, EarlyWarningKey.parse(warning.key)).encode(),
                note.text,
                note.blocks,
                warning.key,
            )
        ]
        if not confirmed:
            latest = self.store.latest_version(warning.channel, warning.key)
            if latest is not None:
                edited = self.renderer.retracted(latest[0], latest[1], run)
                messages.append(
                    OutgoingMessage(
                        EarlyOutcomeKey("update", EarlyWarningKey.parse(warning.key)).encode(),
                        edited.text,
                        edited.blocks,
                        warning.key,
                        action="update",
                    )
                )
        return warning, status, messages
