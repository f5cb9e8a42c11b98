"""Settling early warnings: the run after a warning's run confirms the warning in its thread when
its daily detection alerts the same cluster and family (`domain.early.confirms`); otherwise the
warning is retracted where the run's own items rule it out (`domain.early.rule_out`), and left
undecided where they are too few to (the run samples some of the items the early checks saw).
Each way a note goes in its thread and the warning is edited to say so, so the channel sees the
outcome without opening the thread. The notes and the new status are stored in one
transaction, so a restart neither repeats nor forgets them.

Two places settle, with the same words (`settlement`):

- the alert cycle, as it records the run after the warning's run (`Verdicts`): the warning's
  thread becomes the confirming alert's home (its detail there, right after the note, and its
  episode's follow-ups after it), all in the run's own transaction, so the alert knows its
  thread whichever of the cycle and the early check runs first;
- `Settler`, for a warning the cycle could not settle (a warning stored while the cycle was
  recording the next run, or a run processed late): its detection is recomputed from the two
  stored runs (no query), and a confirmation is a note only, the alert being in its run's
  thread already."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.domain.alerts import Alert
from bot.domain.compare import diff_runs
from bot.domain.early import FAMILIES, Unconfirmed, confirms, rule_out, successor
from bot.domain.fresh import Detection
from bot.domain.models import RunSummary, SeriesKey
from bot.domain.run_view import RunView
from bot.domain.slices import RunSlices
from bot.domain.thresholds import Thresholds
from bot.rendering.early import EarlyRenderer, describe
from bot.services.routing import thresholds_for
from bot.store.early import CONFIRMED, RETRACTED, UNDECIDED, EarlyWarning
from bot.store.keys import EarlyOutcomeKey, EarlyWarningKey
from bot.store.outbox import OutboxStatus
from bot.store.ports import EarlySettling
from bot.store.store import OutgoingMessage


@dataclass
class Settled:
    """What one pass over a series settled, and the outbox rows it added."""

    confirmed: int = 0
    retracted: int = 0
    undecided: int = 0
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
            channels: dict[str, tuple[Thresholds, Detection | None]] = {}
            for warning in (w for w in warnings if w.run_id == run_id):
                outcome = self._outcome(warning, view, channels)
                messages = settlement(self.store, self.renderer, warning, current, outcome)
                settled.append((warning, outcome.status, messages))
                if outcome.status == CONFIRMED:
                    report.confirmed += 1
                elif outcome.status == RETRACTED:
                    report.retracted += 1
                else:
                    report.undecided += 1
            report.messages_stored += self.store.settle_early_warnings(current.run_id, settled)
        return report

    def _outcome(
        self,
        warning: EarlyWarning,
        view: RunView | None,
        channels: dict[str, tuple[Thresholds, Detection | None]],
    ) -> Outcome:
        """What the run after `warning`'s run makes of it; each channel's thresholds and
        detection of the run are read and computed once (`channels`)."""
        found = channels.get(warning.channel)
        if found is None:
            thresholds = thresholds_for(self.store.thresholds(warning.channel))
            detection = view.detect(thresholds) if view is not None else None
            found = channels[warning.channel] = (thresholds, detection)
        thresholds, detection = found
        if view is None or detection is None:
            return outcome(warning, [], None, thresholds)
        return outcome(warning, confirming(warning, detection.alerts), view.slices, thresholds)


class LatestVersions(Protocol):
    def latest_version(
        self, channel: str, key: str
    ) -> tuple[str, list[dict[str, object]]] | None: ...


@dataclass(frozen=True)
class Outcome:
    """How a daily run settles a warning: `status` (confirmed, retracted or undecided), the
    confirming alert in words (`confirmed_by`), and the run's items of the warned cluster since
    the warning's start where it was not confirmed (`items`)."""

    status: str
    confirmed_by: str | None = None
    items: int = 0


def outcome(
    warning: EarlyWarning,
    alerts: Sequence[Alert],
    slices: RunSlices | None,
    thresholds: Thresholds,
) -> Outcome:
    """Confirmed by the first of `alerts` (the run's confirming alerts), else retracted where
    the run's items rule the warning out and undecided where they cannot
    (`domain.early.rule_out`)."""
    if alerts:
        return Outcome(CONFIRMED, confirmed_words(alerts[0]))
    found = _unconfirmed(warning, slices, thresholds)
    return Outcome(RETRACTED if found.ruled_out else UNDECIDED, None, found.items)


def _unconfirmed(
    warning: EarlyWarning, slices: RunSlices | None, thresholds: Thresholds
) -> Unconfirmed:
    kind = next(k for k in FAMILIES if k.value == warning.kind)
    before = warning.payload.get("before")
    start = warning.payload.get("start")
    return rule_out(
        kind,
        float(before) if isinstance(before, int | float) else 0.0,
        datetime.fromisoformat(start) if isinstance(start, str) else None,
        successor(slices, warning.cluster_id),
        thresholds,
    )


def confirming(warning: EarlyWarning, alerts: Sequence[Alert]) -> list[Alert]:
    """The daily run's alerts that confirm `warning` (`domain.early.confirms`)."""
    kind = next(k for k in FAMILIES if k.value == warning.kind)
    return [a for a in alerts if confirms(kind, warning.cluster_id, a)]


def confirmed_words(alert: Alert) -> str:
    """The confirming alert in the note's words: "errors 2.0% → 45.0%"."""
    if alert.kind not in FAMILIES:
        return alert.kind.value.replace("_", " ")
    before = alert.before if alert.before is not None else 0.0
    after = alert.after if alert.after is not None else 0.0
    return describe(alert.kind, before, after).lower()


def settlement(
    store: LatestVersions,
    renderer: EarlyRenderer,
    warning: EarlyWarning,
    run: RunSummary,
    outcome: Outcome,
) -> list[OutgoingMessage]:
    """The messages that settle `warning` on `run`: the note in its thread, and the warning
    edited to say how `outcome` settled it."""
    note = renderer.settled(
        run, outcome.status, alert=outcome.confirmed_by or "", items=outcome.items
    )
    warning_key = EarlyWarningKey.parse(warning.key)
    messages = [
        OutgoingMessage(
            EarlyOutcomeKey(outcome.status, warning_key).encode(),
            note.text,
            note.blocks,
            warning.key,
        )
    ]
    latest = store.latest_version(warning.channel, warning.key)
    if latest is not None:
        edited = renderer.edited(latest[0], latest[1], run, outcome.status)
        messages.append(
            OutgoingMessage(
                EarlyOutcomeKey("update", warning_key).encode(),
                edited.text,
                edited.blocks,
                warning.key,
                action="update",
            )
        )
    return messages


class ThreadStates(LatestVersions, Protocol):
    def status_of(self, channel: str, key: str) -> str | None: ...


@dataclass
class Verdicts:
    """A daily run's verdict, in one channel, on the early warnings of the run before it, as
    the alert cycle stores it with the run's own messages.

    `homes` maps the key of each fired alert that confirms a warning to that warning: the
    alert's detail goes in the warning's thread, right after `notes[warning key]` (the
    confirmation), and its episode hangs from the warning, so later runs follow it there.
    `rest` holds the other settling messages (retractions, and the confirmation of a warning
    whose alert did not fire here: a muted cluster), `settled` each warning's new status."""

    homes: dict[str, EarlyWarning] = field(default_factory=dict)
    notes: dict[str, list[OutgoingMessage]] = field(default_factory=dict)
    rest: list[OutgoingMessage] = field(default_factory=list)
    settled: list[tuple[int, str]] = field(default_factory=list)

    @property
    def confirmed(self) -> int:
        return sum(1 for _, status in self.settled if status == CONFIRMED)

    @property
    def retracted(self) -> int:
        return sum(1 for _, status in self.settled if status == RETRACTED)

    @property
    def undecided(self) -> int:
        return sum(1 for _, status in self.settled if status == UNDECIDED)

    def note_for(self, alert: Alert) -> list[OutgoingMessage]:
        """The confirmation to post before `alert`'s detail in its warning's thread (once)."""
        warning = self.homes.get(alert.key)
        return self.notes.pop(warning.key, []) if warning is not None else []

    def leftover(self) -> list[OutgoingMessage]:
        """Every settling message not placed before an alert's detail."""
        notes = [m for messages in self.notes.values() for m in messages]
        self.notes.clear()
        return notes + self.rest


def verdicts(
    store: ThreadStates,
    renderer: EarlyRenderer,
    warnings: Sequence[EarlyWarning],
    run: RunSummary,
    evidence: tuple[RunSlices | None, Thresholds],
    detected: Sequence[Alert],
    fired: Sequence[Alert],
) -> Verdicts:
    """Settle `warnings` (one channel's open warnings on the run before `run`) against `run`'s
    detection (`detected`) and the alerts it announces (`fired`, after the lifecycle and the
    mutes); `evidence` is the run's slices and the channel's thresholds, which rule out what
    it does not confirm (`outcome`). A warning whose message failed for good has no thread: it
    is settled without a message, and its alert stays in the run's thread."""
    found = Verdicts()
    fired_keys = {a.key for a in fired}
    for warning in warnings:
        alerts = confirming(warning, detected)
        settled = outcome(warning, alerts, *evidence)
        found.settled.append((warning.id, settled.status))
        if store.status_of(warning.channel, warning.key) == OutboxStatus.FAILED:
            continue
        messages = settlement(store, renderer, warning, run, settled)
        homed = [a for a in alerts if a.key in fired_keys and a.key not in found.homes]
        if homed:
            found.notes[warning.key] = messages
            found.homes.update((a.key, warning) for a in homed)
        else:
            found.rest.extend(messages)
    return found
