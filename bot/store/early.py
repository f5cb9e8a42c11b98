"""Early warnings' state: each series' last check, and each warning until the next run settles it.

A warning is stored with its outbox messages in one transaction, and settled with its thread
note (and the edit of its message) in one transaction, so a restart neither posts it twice nor
forgets to settle it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.models import Level, RunSummary, SeriesKey
from bot.store.alerting import DONE
from bot.store.schema import (
    EarlyCheckRow,
    EarlyWarningRow,
    OutboxRow,
    ProcessedRunRow,
    RunRow,
    SeriesRow,
)

OPEN = "open"
CONFIRMED = "confirmed"
RETRACTED = "retracted"
UNDECIDED = "undecided"  # not confirmed, not ruled out (`domain.early.rule_out`)


@dataclass(frozen=True)
class EarlyCheck:
    run_id: str
    checked_at: datetime
    newest_summary: datetime | None


@dataclass(frozen=True)
class EarlyWarning:
    """A warning as stored: `key` is its message's outbox key in `channel`; `payload` what the
    thread note on settling needs (kind, cluster, values, hours and items)."""

    id: int
    channel: str
    series: SeriesKey
    run_id: str
    cluster_id: int
    kind: str
    key: str
    payload: dict[str, object]


class Message(Protocol):
    """An outbox row to add: the store's `OutgoingMessage` (not imported: the facade imports
    this module)."""

    @property
    def key(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def blocks(self) -> list[dict[str, object]]: ...
    @property
    def parent_key(self) -> str | None: ...
    @property
    def action(self) -> str: ...


class EarlyStore:
    _session: sessionmaker[Session]
    clock: Callable[[], datetime]

    def latest_processed(self) -> list[tuple[SeriesKey, str]]:
        """Every series alerting has got to, with the newest run it processed."""
        with self._session() as session:
            rows = session.execute(select(SeriesRow.level, SeriesRow.job_id, SeriesRow.last_run_id))
            return [(SeriesKey(Level(level), job), run_id) for level, job, run_id in rows]

    def early_check(self, series: SeriesKey) -> EarlyCheck | None:
        with self._session() as session:
            row = session.get(EarlyCheckRow, (series.level.value, series.job_id))
            return EarlyCheck(row.run_id, row.checked_at, row.newest_summary) if row else None

    def record_early_check(
        self, series: SeriesKey, run_id: str, at: datetime, newest: datetime | None
    ) -> None:
        with self._session.begin() as session:
            row = session.get(EarlyCheckRow, (series.level.value, series.job_id))
            if row is None:
                session.add(
                    EarlyCheckRow(
                        level=series.level.value,
                        job_id=series.job_id,
                        run_id=run_id,
                        checked_at=at,
                        newest_summary=newest,
                    )
                )
            else:
                row.run_id, row.checked_at, row.newest_summary = run_id, at, newest

    def has_early_warning(self, channel: str, run_id: str, cluster_id: int, kind: str) -> bool:
        with self._session() as session:
            found = session.scalar(
                select(EarlyWarningRow.id).where(
                    EarlyWarningRow.channel == channel,
                    EarlyWarningRow.run_id == run_id,
                    EarlyWarningRow.cluster_id == cluster_id,
                    EarlyWarningRow.kind == kind,
                )
            )
            return found is not None

    def record_early_warnings(
        self,
        run: RunSummary,
        warnings: Mapping[str, Sequence[tuple[int, str, dict[str, object], Message]]],
    ) -> int:
        """Store each channel's new warnings (cluster id, kind, payload, message) with their
        messages, in one transaction; a warning already stored is skipped. Returns how many
        were added."""
        added = 0
        with self._session.begin() as session:
            for channel, found in warnings.items():
                for cluster_id, kind, payload, message in found:
                    exists = session.scalar(
                        select(EarlyWarningRow.id).where(
                            EarlyWarningRow.channel == channel,
                            EarlyWarningRow.run_id == run.run_id,
                            EarlyWarningRow.cluster_id == cluster_id,
                            EarlyWarningRow.kind == kind,
                        )
                    )
                    if exists is not None:
                        continue
                    session.add(
                        EarlyWarningRow(
                            channel=channel,
                            level=run.level.value,
                            job_id=run.job_id,
                            run_id=run.run_id,
                            cluster_id=cluster_id,
                            kind=kind,
                            key=message.key,
                            status=OPEN,
                            payload=payload,
                            created_at=self._now(),
                        )
                    )
                    added += _add_messages(session, channel, run.run_id, [message], self._now())
        return added

    def open_early_warnings(self, series: SeriesKey) -> list[EarlyWarning]:
        with self._session() as session:
            rows = session.scalars(
                select(EarlyWarningRow)
                .where(
                    EarlyWarningRow.level == series.level.value,
                    EarlyWarningRow.job_id == series.job_id,
                    EarlyWarningRow.status == OPEN,
                )
                .order_by(EarlyWarningRow.id)
            )
            return [
                EarlyWarning(
                    row.id,
                    row.channel,
                    series,
                    row.run_id,
                    row.cluster_id,
                    row.kind,
                    row.key,
                    dict(row.payload),
                )
                for row in rows
            ]

    def open_early_warning_count(self) -> int:
        """Warnings posted (or waiting to be) that no daily run has settled yet, in every
        channel."""
        with self._session() as session:
            found = session.scalar(
                select(func.count(EarlyWarningRow.id)).where(EarlyWarningRow.status == OPEN)
            )
            return int(found or 0)

    def settle_early_warnings(
        self, run_id: str, settled: Sequence[tuple[EarlyWarning, str, Sequence[Message]]]
    ) -> int:
        """Mark each warning `confirmed`, `retracted` or `undecided` by `run_id` and store its
        messages (the thread note, the edit of the warning), in one transaction; a warning
        settled already is skipped. Returns the outbox rows added."""
        added = 0
        with self._session.begin() as session:
            for warning, status, messages in settled:
                row = session.get(EarlyWarningRow, warning.id)
                if row is None or row.status != OPEN:
                    continue
                row.status, row.settled_run_id = status, run_id
                added += _add_messages(session, warning.channel, run_id, messages, self._now())
        return added

    @staticmethod
    def _mark_settled(session: Session, run_id: str, settled: Sequence[tuple[int, str]]) -> None:
        """Mark each open warning of `settled` (id, status) settled by `run_id`, in the alert
        cycle's transaction (`Store.record_run_alerts`)."""
        for warning_id, status in settled:
            row = session.get(EarlyWarningRow, warning_id)
            if row is not None and row.status == OPEN:
                row.status, row.settled_run_id = status, run_id

    def processed_run_after(self, run: RunSummary) -> RunSummary | None:
        """The oldest run of `run`'s series after it that alerting has processed, if any."""
        with self._session() as session:
            row = session.execute(
                select(RunRow.run_id, RunRow.timestamp)
                .join(ProcessedRunRow, ProcessedRunRow.run_id == RunRow.run_id)
                .where(
                    RunRow.level == run.level.value,
                    RunRow.job_id == run.job_id,
                    RunRow.timestamp > run.timestamp,
                    ProcessedRunRow.status == DONE,
                )
                .order_by(RunRow.timestamp)
                .limit(1)
            ).first()
        if row is None:
            return None
        return RunSummary(
            run_id=row[0], level=run.level, job_id=run.job_id, total_items=0, timestamp=row[1]
        )

    def _now(self) -> datetime:
        return self.clock()


def _add_messages(
    session: Session, channel: str, run_id: str, messages: Sequence[Message], now: datetime
) -> int:
    added = 0
    for message in messages:
        exists = session.scalar(
            select(OutboxRow.id).where(OutboxRow.channel == channel, OutboxRow.key == message.key)
        )
        if exists is not None:
            continue
        session.add(
            OutboxRow(
                channel=channel,
                key=message.key,
                parent_key=message.parent_key,
                run_id=run_id,
                text=message.text,
                blocks=message.blocks,
                action=message.action,
                created_at=now,
            )
        )
        added += 1
    return added
