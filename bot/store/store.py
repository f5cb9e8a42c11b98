"""The state store: cached runs, alerting progress, the outbox, and per-channel settings.

One `Store` per process over one SQLAlchemy engine. Every method is its own short transaction
except `record_run_alerts`, which stores a run's messages and advances its series atomically, so a
crash either keeps both or neither. Each consumer takes the store under its own narrow protocol
(bot/store/ports.py); outbox keys are spelled by bot/store/keys.py.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, create_engine, delete, event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.lifecycle import Episode
from bot.domain.models import ClusteringRun, RunSummary, SeriesKey
from bot.store.alerting import SKIPPED, AlertingStore
from bot.store.channels import ChannelStore, Mute
from bot.store.early import EarlyStore
from bot.store.outbox import MAX_ATTEMPTS, OutboxStore
from bot.store.schema import (
    HeartbeatRow,
    OutboxRow,
    RunRow,
    SeriesLeaseRow,
    SeriesRow,
    utcnow,
)

__all__ = ["MAX_ATTEMPTS", "Mute", "OutgoingMessage", "Store", "make_engine"]


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to store in the outbox. `parent_key` makes it a reply in that message's
    thread."""

    key: str
    text: str
    blocks: list[dict[str, object]]
    parent_key: str | None = None
    action: str = "post"  # or "update": replace the message `parent_key` (chat.update)


RUNS_KEPT = 16
"""Parsed runs a store keeps, the least recently read let go first. A 1,500-item run takes
about 4 ms of CPU to parse from its stored payload, and one cycle reads each new run and its
predecessor several times (the alert cycle, the early check's baseline, each alert's charts,
whose trend walks back up to 14 runs); a kept run costs about 1.5 MB."""


# How long a SQLite statement waits for another connection's lock before "database is locked"
# (read at each new connection; tests of a lock outlasting it set it small).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        # Several threads (listeners, scheduler) share the file: wait for locks, don't fail.
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: object, _record: object) -> None:
            cursor = connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


class Store(OutboxStore, ChannelStore, AlertingStore, EarlyStore):
    """Runs, alerting progress and leases here; the outbox and channel settings in mixins.

    `clock` (aware UTC) stamps claims, leases, send slots and heartbeats and decides when they
    expire, as the services' clock does; only audit columns (`created_at`, `updated_at`) take
    the wall clock as their default."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._runs: OrderedDict[int, tuple[str, ClusteringRun]] = OrderedDict()
        self._runs_lock = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, *, migrate: bool = True, clock: Callable[[], datetime] = utcnow
    ) -> Store:
        """Open the store; `migrate` upgrades the schema first (safe with concurrent starts)."""
        store = cls(make_engine(url), clock=clock)
        if migrate:
            from bot.store.migrate import upgrade  # alembic, only for those who migrate

            upgrade(store.engine)
        return store

    def ping(self) -> None:
        with self._session() as session:
            session.execute(select(1))

    # -- runs (immutable, cached forever) -------------------------------------------------

    def save_run(self, run: ClusteringRun) -> None:
        """Insert or replace the run's row. Another process (or thread) may insert the same run
        between `merge`'s look-up and its insert: the unique key refuses the second insert, and
        the retry finds that row and replaces it, on SQLite and PostgreSQL alike."""
        try:
            self._merge_run(run)
        except IntegrityError:
            self._merge_run(run)

    def _merge_run(self, run: ClusteringRun) -> None:
        row = RunRow(
            run_id=run.run_id,
            level=run.level.value,
            job_id=run.job_id,
            timestamp=run.timestamp,
            payload=run.model_dump_json(),
            cluster_count=len(run.clusters),
        )
        with self._session.begin() as session:
            session.merge(row)

    def cluster_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """The cluster count of each of these runs that is stored."""
        with self._session() as session:
            rows = session.execute(
                select(RunRow.run_id, RunRow.cluster_count).where(RunRow.run_id.in_(run_ids))
            ).all()
        return {run_id: count for run_id, count in rows if count is not None}

    def get_run(self, run_id: str) -> ClusteringRun | None:
        with self._session() as session:
            row = session.get(RunRow, run_id)
            return self._parsed(row.payload) if row else None

    def _parsed(self, payload: str) -> ClusteringRun:
        """The run stored as `payload`, parsed once while it is among the `RUNS_KEPT` last read.
        Kept by the payload itself, not the run's id: a run stored again with its items'
        values (by this process or another) is a new payload, so it is never read stale. Runs
        are frozen, so every reader may share one."""
        key = hash(payload)
        with self._runs_lock:
            kept = self._runs.get(key)
            if kept is not None and kept[0] == payload:
                self._runs.move_to_end(key)
                return kept[1]
        run = ClusteringRun.model_validate_json(payload)
        with self._runs_lock:
            self._runs[key] = (payload, run)
            self._runs.move_to_end(key)
            while len(self._runs) > RUNS_KEPT:
                self._runs.popitem(last=False)
        return run

    def get_summary(self, run_id: str) -> RunSummary | None:
        """The stored run without its clusters: the payload is read, but its 1,500 items are
        not built (about a seventh of `get_run`'s CPU)."""
        with self._session() as session:
            row = session.get(RunRow, run_id)
            return RunSummary.model_validate_json(row.payload) if row else None

    def previous_run(self, run: RunSummary) -> ClusteringRun | None:
        """The newest stored run of the same series before `run`."""
        with self._session() as session:
            row = session.scalars(
                select(RunRow)
                .where(
                    RunRow.level == run.level.value,
                    RunRow.job_id == run.job_id,
                    RunRow.timestamp < run.timestamp,
                    RunRow.run_id != run.run_id,
                )
                .order_by(RunRow.timestamp.desc())
                .limit(1)
            ).first()
            return self._parsed(row.payload) if row else None

    # -- alerting progress ------------------------------------------------------------------

    def series_cursor(self, series: SeriesKey) -> datetime | None:
        """Timestamp of the newest run of the series already processed, or None if unseen."""
        with self._session() as session:
            row = session.get(SeriesRow, (series.level.value, series.job_id))
            return row.last_run_at if row else None

    def record_run_alerts(
        self,
        run: RunSummary,
        channel_messages: Mapping[str, Sequence[OutgoingMessage]],
        *,
        episodes: Mapping[str, Sequence[Episode]] | None = None,
        seen: Sequence[RunSummary] = (),
        skipped: bool = False,
        settled: Sequence[tuple[int, str]] = (),
    ) -> int:
        """Store the messages for a processed run, each channel's open alert episodes after it,
        the early warnings it settled (`settled`: warning id and status; their notes are among
        the messages), and the run as processed (with `seen`, older runs that will never be
        alerted on), and advance its series: atomically, so a crash keeps all of it or none.

        Keys are unique per channel, so recording the same run twice stores nothing twice.
        Returns the number of new outbox rows.
        """
        added = 0
        with self._session.begin() as session:
            for channel, messages in channel_messages.items():
                existing = set(
                    session.scalars(
                        select(OutboxRow.key).where(
                            OutboxRow.channel == channel,
                            OutboxRow.key.in_([m.key for m in messages]),
                        )
                    )
                )
                for message in messages:
                    if message.key in existing:
                        continue
                    session.add(
                        OutboxRow(
                            channel=channel,
                            key=message.key,
                            parent_key=message.parent_key,
                            run_id=run.run_id,
                            text=message.text,
                            blocks=message.blocks,
                            action=message.action,
                            created_at=self.clock(),
                        )
                    )
                    added += 1
            self._replace_episodes(session, run.series, episodes or {})
            self._mark_settled(session, run.run_id, settled)
            self._mark_processed(session, run, SKIPPED if skipped else "done", seen)
            self._advance(session, run)
        return added

    @staticmethod
    def _advance(session: Session, run: RunSummary) -> None:
        row = session.get(SeriesRow, (run.level.value, run.job_id))
        if row is None:
            session.add(
                SeriesRow(
                    level=run.level.value,
                    job_id=run.job_id,
                    last_run_id=run.run_id,
                    last_run_at=run.timestamp,
                )
            )
        elif row.last_run_at < run.timestamp:
            row.last_run_id, row.last_run_at = run.run_id, run.timestamp

    # -- several schedulers: leases and heartbeats --------------------------------------------

    def acquire_series(self, series: SeriesKey, owner: str, ttl: timedelta) -> bool:
        """Take (or renew) the lease on a series; False while another live process holds it.

        Atomic on SQLite and PostgreSQL alike: a conditional UPDATE, else an INSERT that only one
        of several racing processes can win.
        """
        now = self.clock()
        key = (SeriesLeaseRow.level == series.level.value, SeriesLeaseRow.job_id == series.job_id)
        with self._session.begin() as session:
            taken = session.execute(
                update(SeriesLeaseRow)
                .where(*key, or_(SeriesLeaseRow.lease_until < now, SeriesLeaseRow.owner == owner))
                .values(owner=owner, lease_until=now + ttl)
            )
            if taken.rowcount:  # type: ignore[attr-defined]
                return True
            if session.scalar(select(SeriesLeaseRow.owner).where(*key)) is not None:
                return False
            try:
                with session.begin_nested():
                    session.add(
                        SeriesLeaseRow(
                            level=series.level.value,
                            job_id=series.job_id,
                            owner=owner,
                            lease_until=now + ttl,
                        )
                    )
            except IntegrityError:
                return False
            return True

    def release_series(self, series: SeriesKey, owner: str) -> None:
        with self._session.begin() as session:
            session.execute(
                delete(SeriesLeaseRow).where(
                    SeriesLeaseRow.level == series.level.value,
                    SeriesLeaseRow.job_id == series.job_id,
                    SeriesLeaseRow.owner == owner,
                )
            )

    def release_series_of(self, owner: str) -> int:
        """Release every lease `owner` holds (on shutdown); returns how many."""
        with self._session.begin() as session:
            result = session.execute(delete(SeriesLeaseRow).where(SeriesLeaseRow.owner == owner))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def beat(self, name: str, detail: str = "") -> None:
        with self._session.begin() as session:
            row = session.get(HeartbeatRow, name)
            if row is None:
                session.add(HeartbeatRow(name=name, at=self.clock(), detail=detail))
            else:
                row.at, row.detail = self.clock(), detail

    def heartbeat(self, name: str) -> tuple[datetime, str] | None:
        with self._session() as session:
            row = session.get(HeartbeatRow, name)
            return (row.at, row.detail) if row else None
