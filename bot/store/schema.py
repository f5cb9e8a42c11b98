"""Tables of the state store. SQLite by default, PostgreSQL by `DATABASE_URL`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware in and out, on SQLite (which forgets the zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    """A parsed run (immutable once emitted), with any metrics we computed for it."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    level: Mapped[str] = mapped_column(String(20), index=True)
    job_id: Mapped[str] = mapped_column(String(100), index=True)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    payload: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    cluster_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SeriesRow(Base):
    """How far alerting has got in one series: the newest run already processed."""

    __tablename__ = "series"

    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_run_id: Mapped[str] = mapped_column(String(300))
    last_run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class OutboxRow(Base):
    """A message to deliver exactly once: stored before sending, marked sent on Slack's ok.

    `status`: pending -> sending -> sent, or failed after too many attempts. A row left in
    `sending` by a crash is ambiguous; the notifier resolves it through message metadata.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("channel", "key", name="uq_outbox_channel_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(400))
    parent_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    run_id: Mapped[str] = mapped_column(String(300), index=True)
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    # "post" a message (a reply when `parent_key` is set), or "update" the message `parent_key`
    # (chat.update, which is idempotent: an update sent twice changes nothing).
    action: Mapped[str] = mapped_column(String(10), default="post")
    ts: Mapped[str | None] = mapped_column(String(40), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The first send attempt: a recovery lookup searches Slack from here, however often the
    # row was reclaimed since.
    first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Which process holds the claim ("host:pid:nonce"), so a dead sender's row is taken over at
    # once instead of after `recover_after`.
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    recoveries: Mapped[int] = mapped_column(Integer, default=0)


class SubscriptionRow(Base):
    """A channel's interest in runs: level and job `None` mean "any". `active` False opts the
    default alert channel out of everything."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("channel", "level", "job", name="uq_subscription"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    job: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChannelSettingsRow(Base):
    __tablename__ = "channel_settings"

    channel: Mapped[str] = mapped_column(String(40), primary_key=True)
    thresholds: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    quiet_summary: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class MuteRow(Base):
    """A muted cluster of one run; carried to its match in each later run of the series.

    Every copy carries the `lineage` of the mute it came from (the id of the first row), so
    `unmute` lifts a mute from every run it was carried to, and only that mute.
    """

    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("channel", "run_id", "cluster_id", name="uq_mute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str] = mapped_column(String(300))
    cluster_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    until: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_by: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    lineage: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class SeriesLeaseRow(Base):
    """Which scheduler process works on a series right now (several may run)."""

    __tablename__ = "series_leases"

    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime)


class HeartbeatRow(Base):
    """Liveness of background work (the scheduler), read by /healthz in another process."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")


class ProcessedRunRow(Base):
    """A run alerting has dealt with: `done`, `seen` (older than the first run of a series the
    bot saw, never alerted on), or `failing` / `skipped` after it kept failing to load."""

    __tablename__ = "processed_runs"
    __table_args__ = (Index("ix_processed_runs_series", "level", "job_id"),)

    run_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class EpisodeRow(Base):
    """An open alert episode of one channel and series (domain/lifecycle.py `Episode`)."""

    __tablename__ = "alert_episodes"
    __table_args__ = (Index("ix_alert_episodes_series", "channel", "level", "job_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)


class ChannelPaceRow(Base):
    """When each channel may get its next message, shared by every sending process (Slack
    allows about one message per second per channel, slack.md A9)."""

    __tablename__ = "channel_pace"

    channel: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime)


class QueryBudgetRow(Base):
    """One PostHog query budget shared by every process of the deployment: the row each spend
    locks, so spends of one budget happen one at a time (see `bot.store.budget`)."""

    __tablename__ = "query_budgets"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    capacity: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch


class QuerySpendRow(Base):
    """One query spent from a budget, at `at` (seconds since the epoch); rows older than the
    window are deleted as budgets are spent."""

    __tablename__ = "query_spends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    at: Mapped[float] = mapped_column(Float, index=True)


class EarlyCheckRow(Base):
    """When a series was last checked for early warnings, against which run, and the newest
    summary seen then (a check that finds nothing newer spends no further query)."""

    __tablename__ = "early_checks"

    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(300))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    newest_summary: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class EarlyWarningRow(Base):
    """An early warning posted to one channel (`key` is its outbox key): `open` until the next
    run of its series settles it as `confirmed`, `retracted` or `undecided` (by
    `settled_run_id`)."""

    __tablename__ = "early_warnings"
    __table_args__ = (
        UniqueConstraint("channel", "run_id", "cluster_id", "kind", name="uq_early_warning"),
        Index("ix_early_warnings_series", "level", "job_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str] = mapped_column(String(300))
    cluster_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(10), default="open")
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    settled_run_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
