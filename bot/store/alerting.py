"""Alerting progress: which runs are dealt with, and each channel's open alert episodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.lifecycle import Episode
from bot.domain.models import RunSummary, SeriesKey
from bot.store.schema import EpisodeRow, ProcessedRunRow

DONE = "done"
SEEN = "seen"
FAILING = "failing"
SKIPPED = "skipped"


class AlertingStore:
    _session: sessionmaker[Session]

    def processed_runs(self, series: SeriesKey) -> set[str] | None:
        """Ids of the series' runs that need no more work; `None` for a series never seen."""
        with self._session() as session:
            rows = session.execute(
                select(ProcessedRunRow.run_id, ProcessedRunRow.status).where(
                    ProcessedRunRow.level == series.level.value,
                    ProcessedRunRow.job_id == series.job_id,
                )
            ).all()
        if not rows:
            return None
        return {run_id for run_id, status in rows if status != FAILING}

    def run_failed(self, run: RunSummary, error: str, *, give_up_after: int) -> int:
        """Count a failed attempt at `run`; past `give_up_after` it is `skipped`. Returns the
        number of attempts so far."""
        with self._session.begin() as session:
            row = session.get(ProcessedRunRow, run.run_id)
            if row is None:
                row = ProcessedRunRow(
                    run_id=run.run_id,
                    level=run.level.value,
                    job_id=run.job_id,
                    status=FAILING,
                    attempts=0,
                )
                session.add(row)
            row.attempts += 1
            row.last_error = error[:500]
            if row.attempts >= give_up_after:
                row.status = SKIPPED
            return row.attempts

    def open_episodes(self, channel: str, series: SeriesKey) -> list[Episode]:
        with self._session() as session:
            payloads = session.scalars(
                select(EpisodeRow.payload)
                .where(
                    EpisodeRow.channel == channel,
                    EpisodeRow.level == series.level.value,
                    EpisodeRow.job_id == series.job_id,
                )
                .order_by(EpisodeRow.id)
            )
            return [Episode.model_validate(p) for p in payloads]

    @staticmethod
    def _mark_processed(
        session: Session, run: RunSummary, status: str = DONE, others: Iterable[RunSummary] = ()
    ) -> None:
        for summary, state in ((run, status), *((o, SEEN) for o in others)):
            row = session.get(ProcessedRunRow, summary.run_id)
            if row is None:
                session.add(
                    ProcessedRunRow(
                        run_id=summary.run_id,
                        level=summary.level.value,
                        job_id=summary.job_id,
                        status=state,
                        attempts=0,
                    )
                )
            elif row.status in (FAILING, SEEN) or state == DONE:
                row.status = state

    @staticmethod
    def _replace_episodes(
        session: Session, series: SeriesKey, episodes: Mapping[str, Sequence[Episode]]
    ) -> None:
        for channel, open_now in episodes.items():
            session.execute(
                delete(EpisodeRow).where(
                    EpisodeRow.channel == channel,
                    EpisodeRow.level == series.level.value,
                    EpisodeRow.job_id == series.job_id,
                )
            )
            for episode in open_now:
                session.add(
                    EpisodeRow(
                        channel=channel,
                        level=series.level.value,
                        job_id=series.job_id,
                        payload=episode.model_dump(mode="json"),
                    )
                )
