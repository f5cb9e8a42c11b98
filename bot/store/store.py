"""The state store: cached runs, alerting progress, the outbox, and per-channel settings.

One `Store` per process over one SQLAlchemy engine. Every method is its own short transaction
except `record_run_alerts`, which stores a run's messages and advances its series atomically, so a
crash either keeps both or neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, create_engine, delete, event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from bot.domain.models import ClusteringRun, Level, RunSummary, SeriesKey
from bot.store.migrate import upgrade
from bot.store.schema import (
    ChannelSettingsRow,
    HeartbeatRow,
    MuteRow,
    OutboxRow,
    RunRow,
    SeriesLeaseRow,
    SeriesRow,
    SubscriptionRow,
    utcnow,
)

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to store in the outbox. `parent_key` makes it a reply in that message's
    thread."""

    key: str
    text: str
    blocks: list[dict[str, object]]
    parent_key: str | None = None


@dataclass(frozen=True)
class Mute:
    channel: str
    run_id: str
    cluster_id: int
    title: str
    until: datetime
    created_by: str


def make_engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        # Several threads (listeners, scheduler) share the file: wait for locks, don't fail.
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: object, _record: object) -> None:
            cursor = connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the store; `migrate` upgrades the schema first (safe with concurrent starts)."""
        store = cls(make_engine(url))
        if migrate:
            upgrade(store.engine)
        return store

    def ping(self) -> None:
        with self._session() as session:
            session.execute(select(1))

    # -- runs (immutable, cached forever) -------------------------------------------------

    def save_run(self, run: ClusteringRun) -> None:
        row = RunRow(
            run_id=run.run_id,
            level=run.level.value,
            job_id=run.job_id,
            timestamp=run.timestamp,
            payload=run.model_dump_json(),
        )
        with self._session.begin() as session:
            session.merge(row)

    def get_run(self, run_id: str) -> ClusteringRun | None:
        with self._session() as session:
            row = session.get(RunRow, run_id)
            return ClusteringRun.model_validate_json(row.payload) if row else None

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
            return ClusteringRun.model_validate_json(row.payload) if row else None

    # -- alerting progress ------------------------------------------------------------------

    def series_cursor(self, series: SeriesKey) -> datetime | None:
        """Timestamp of the newest run of the series already processed, or None if unseen."""
        with self._session() as session:
            row = session.get(SeriesRow, (series.level.value, series.job_id))
            return row.last_run_at if row else None

    def record_run_alerts(
        self, run: RunSummary, channel_messages: Mapping[str, Sequence[OutgoingMessage]]
    ) -> int:
        """Store the messages for a processed run and advance its series, atomically.

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
                        )
                    )
                    added += 1
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
        now = utcnow()
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

    def beat(self, name: str, detail: str = "") -> None:
        with self._session.begin() as session:
            row = session.get(HeartbeatRow, name)
            if row is None:
                session.add(HeartbeatRow(name=name, at=utcnow(), detail=detail))
            else:
                row.at, row.detail = utcnow(), detail

    def heartbeat(self, name: str) -> tuple[datetime, str] | None:
        with self._session() as session:
            row = session.get(HeartbeatRow, name)
            return (row.at, row.detail) if row else None

    # -- outbox -------------------------------------------------------------------------------

    def deliverable(self, limit: int = 200) -> list[OutboxRow]:
        """Unsent rows in creation order: parents before their replies."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.status.in_(("pending", "sending")))
                    .order_by(OutboxRow.id)
                    .limit(limit)
                )
            )

    def sent_ts(self, channel: str, key: str) -> str | None:
        with self._session() as session:
            return session.scalar(
                select(OutboxRow.ts).where(
                    OutboxRow.channel == channel, OutboxRow.key == key, OutboxRow.status == "sent"
                )
            )

    def claim(self, row_id: int) -> bool:
        """pending -> sending; False if another worker got there first."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == "pending")
                .values(status="sending", claimed_at=utcnow(), attempts=OutboxRow.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def reclaim(self, row_id: int, claimed_at: datetime | None) -> bool:
        """Take over a `sending` row left by a crash or an ambiguous failure.

        A compare-and-swap on `claimed_at`: of several processes that saw the same stale claim,
        exactly one wins; the winner's fresh claim keeps the others off while it looks the
        message up in Slack and, only if it is not there, sends it.
        """
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.status == "sending",
                    OutboxRow.claimed_at == claimed_at
                    if claimed_at is not None
                    else OutboxRow.claimed_at.is_(None),
                )
                .values(claimed_at=utcnow(), last_error=None, attempts=OutboxRow.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_sent(self, row_id: int, ts: str) -> None:
        with self._session.begin() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id)
                .values(status="sent", ts=ts, sent_at=utcnow(), last_error=None)
            )

    def mark_unsent(self, row_id: int, error: str, *, permanent: bool = False) -> str:
        """Back to pending after a failed send, or failed for good. Returns the new status."""
        with self._session.begin() as session:
            row = session.get(OutboxRow, row_id)
            if row is None:
                return "missing"
            row.last_error = error[:500]
            row.status = "failed" if permanent or row.attempts >= MAX_ATTEMPTS else "pending"
            return row.status

    def mark_ambiguous(self, row_id: int, error: str) -> None:
        """The send failed in a way that may still have posted: keep `sending` for recovery."""
        with self._session.begin() as session:
            session.execute(
                update(OutboxRow).where(OutboxRow.id == row_id).values(last_error=error[:500])
            )

    def outbox(self, channel: str | None = None) -> list[OutboxRow]:
        with self._session() as session:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if channel:
                query = query.where(OutboxRow.channel == channel)
            return list(session.scalars(query))

    # -- subscriptions --------------------------------------------------------------------------

    def subscribe(self, channel: str, level: Level | None, job: str | None, user: str) -> bool:
        """False if the channel already had exactly this subscription."""
        with self._session.begin() as session:
            session.execute(
                delete(SubscriptionRow).where(
                    SubscriptionRow.channel == channel, SubscriptionRow.active.is_(False)
                )
            )
            exists = session.scalar(
                select(SubscriptionRow.id).where(
                    SubscriptionRow.channel == channel,
                    _eq_or_null(SubscriptionRow.level, level.value if level else None),
                    _eq_or_null(SubscriptionRow.job, job),
                )
            )
            if exists:
                return False
            session.add(
                SubscriptionRow(
                    channel=channel,
                    level=level.value if level else None,
                    job=job,
                    created_by=user,
                )
            )
            return True

    def unsubscribe(
        self, channel: str, level: Level | None, job: str | None, *, opt_out: bool
    ) -> int:
        """Remove matching subscriptions (all when level and job are None). `opt_out` leaves
        a marker so a default alert channel stops receiving everything."""
        with self._session.begin() as session:
            query = delete(SubscriptionRow).where(SubscriptionRow.channel == channel)
            if level is not None or job is not None:
                query = query.where(
                    _eq_or_null(SubscriptionRow.level, level.value if level else None),
                    _eq_or_null(SubscriptionRow.job, job),
                )
            removed = int(session.execute(query).rowcount)  # type: ignore[attr-defined]
            remaining = session.scalar(
                select(SubscriptionRow.id).where(SubscriptionRow.channel == channel)
            )
            if opt_out and remaining is None:
                session.add(SubscriptionRow(channel=channel, active=False))
            return removed

    def subscriptions(self, channel: str | None = None) -> list[SubscriptionRow]:
        with self._session() as session:
            query = select(SubscriptionRow).order_by(SubscriptionRow.id)
            if channel:
                query = query.where(SubscriptionRow.channel == channel)
            return list(session.scalars(query))

    # -- thresholds -------------------------------------------------------------------------------

    def thresholds(self, channel: str) -> dict[str, str]:
        with self._session() as session:
            row = session.get(ChannelSettingsRow, channel)
            return dict(row.thresholds) if row else {}

    def set_thresholds(self, channel: str, values: dict[str, str], user: str) -> None:
        with self._session.begin() as session:
            row = session.get(ChannelSettingsRow, channel)
            if row is None:
                session.add(ChannelSettingsRow(channel=channel, thresholds=values, updated_by=user))
            else:
                row.thresholds, row.updated_by = dict(values), user

    # -- mutes ----------------------------------------------------------------------------------

    def mute(self, mute: Mute, series: SeriesKey) -> None:
        with self._session.begin() as session:
            session.execute(
                delete(MuteRow).where(
                    MuteRow.channel == mute.channel,
                    MuteRow.run_id == mute.run_id,
                    MuteRow.cluster_id == mute.cluster_id,
                )
            )
            session.add(
                MuteRow(
                    channel=mute.channel,
                    level=series.level.value,
                    job_id=series.job_id,
                    run_id=mute.run_id,
                    cluster_id=mute.cluster_id,
                    title=mute.title,
                    until=mute.until,
                    created_by=mute.created_by,
                )
            )

    def carry_mutes(self, channel: str, run: RunSummary, carried: Iterable[Mute]) -> None:
        """Copy mutes onto the matched clusters of a newer run (idempotent)."""
        with self._session.begin() as session:
            for mute in carried:
                try:
                    with session.begin_nested():
                        session.add(
                            MuteRow(
                                channel=channel,
                                level=run.level.value,
                                job_id=run.job_id,
                                run_id=run.run_id,
                                cluster_id=mute.cluster_id,
                                title=mute.title,
                                until=mute.until,
                                created_by=mute.created_by,
                            )
                        )
                except IntegrityError:
                    continue

    def active_mutes(self, channel: str, now: datetime, run_id: str | None = None) -> list[Mute]:
        with self._session() as session:
            query = select(MuteRow).where(MuteRow.channel == channel, MuteRow.until > now)
            if run_id is not None:
                query = query.where(MuteRow.run_id == run_id)
            return [_mute(row) for row in session.scalars(query.order_by(MuteRow.until))]

    def unmute(self, channel: str, title_or_id: str) -> int:
        with self._session.begin() as session:
            condition: ColumnElement[bool] = MuteRow.title.ilike(
                f"%{_like_escape(title_or_id)}%", escape="\\"
            )
            if title_or_id.lstrip("-").isdigit():
                condition = or_(condition, MuteRow.cluster_id == int(title_or_id))
            result = session.execute(delete(MuteRow).where(MuteRow.channel == channel, condition))
            return int(result.rowcount)  # type: ignore[attr-defined]


def _mute(row: MuteRow) -> Mute:
    return Mute(row.channel, row.run_id, row.cluster_id, row.title, row.until, row.created_by)


def _eq_or_null(
    column: InstrumentedAttribute[str | None], value: str | None
) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
