"""Per-channel settings: subscriptions, thresholds and mutes."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from bot.domain.models import Level, RunSummary, SeriesKey
from bot.store.schema import ChannelSettingsRow, MuteRow, SubscriptionRow


@dataclass(frozen=True)
class Mute:
    channel: str
    run_id: str
    cluster_id: int
    title: str
    until: datetime
    created_by: str
    lineage: int | None = None
    """The mute this one was carried from (None for a new mute: the store assigns it)."""


@dataclass(frozen=True)
class ChannelPresence:
    """Where channel settings are stored: each subscription row's (channel, active), oldest
    first (an inactive row is an opt-out marker), channels with stored thresholds, and channels
    with a mute active at the time asked about."""

    subscribed: tuple[tuple[str, bool], ...]
    tuned: tuple[str, ...]
    muted: tuple[str, ...]


class ChannelStore:
    _session: sessionmaker[Session]

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

    def remove_subscriptions(self, channel: str, ids: Collection[int], *, opt_out: bool) -> int:
        """Remove these subscriptions of `channel` (by row id; ids gone meanwhile or of another
        channel remove nothing) and no other; how many. `opt_out` as for `unsubscribe`."""
        if not ids:
            return 0
        with self._session.begin() as session:
            query = delete(SubscriptionRow).where(
                SubscriptionRow.channel == channel,
                SubscriptionRow.active.is_(True),
                SubscriptionRow.id.in_(list(ids)),
            )
            removed = int(session.execute(query).rowcount)  # type: ignore[attr-defined]
            remaining = session.scalar(
                select(SubscriptionRow.id).where(SubscriptionRow.channel == channel)
            )
            if opt_out and removed and remaining is None:
                session.add(SubscriptionRow(channel=channel, active=False))
            return removed

    def subscriptions(self, channel: str | None = None) -> list[SubscriptionRow]:
        with self._session() as session:
            query = select(SubscriptionRow).order_by(SubscriptionRow.id)
            if channel:
                query = query.where(SubscriptionRow.channel == channel)
            return list(session.scalars(query))

    def channel_presence(self, now: datetime) -> ChannelPresence:
        with self._session() as session:
            subscribed = session.execute(
                select(SubscriptionRow.channel, SubscriptionRow.active).order_by(SubscriptionRow.id)
            ).all()
            tuned = [
                channel
                for channel, values in session.execute(
                    select(ChannelSettingsRow.channel, ChannelSettingsRow.thresholds)
                )
                if values
            ]
            muted = session.scalars(select(MuteRow.channel).where(MuteRow.until > now)).all()
        return ChannelPresence(
            tuple((channel, bool(active)) for channel, active in subscribed),
            tuple(tuned),
            tuple(muted),
        )

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
            row = MuteRow(
                channel=mute.channel,
                level=series.level.value,
                job_id=series.job_id,
                run_id=mute.run_id,
                cluster_id=mute.cluster_id,
                title=mute.title,
                until=mute.until,
                created_by=mute.created_by,
            )
            session.add(row)
            session.flush()
            row.lineage = row.id

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
                                lineage=mute.lineage,
                            )
                        )
                except IntegrityError:
                    continue

    def active_mutes(self, channel: str, now: datetime, run_id: str | None = None) -> list[Mute]:
        with self._session() as session:
            query = select(MuteRow).where(MuteRow.channel == channel, MuteRow.until > now)
            if run_id is not None:
                query = query.where(MuteRow.run_id == run_id)
            order = (MuteRow.until, MuteRow.id)
            return [_mute(row) for row in session.scalars(query.order_by(*order))]

    def unmute(self, channel: str, run_id: str, cluster_id: int) -> int:
        """Lift the mutes on one run's cluster, from every run they were carried to; how many."""
        mine = (MuteRow.run_id == run_id) & (MuteRow.cluster_id == cluster_id)
        return self._unmute_where(channel, mine)

    def unmute_lineage(self, channel: str, lineage: int) -> int:
        """Lift one mute (`Mute.lineage`) and every copy carried from it; how many (0 or 1)."""
        return self._unmute_where(channel, or_(MuteRow.lineage == lineage, MuteRow.id == lineage))

    def unmute_titled(self, channel: str, words: str) -> int:
        """Lift the mutes whose stored title contains `words`; how many."""
        return self._unmute_where(
            channel, MuteRow.title.ilike(f"%{_like_escape(words)}%", escape="\\")
        )

    def _unmute_where(self, channel: str, condition: ColumnElement[bool]) -> int:
        with self._session.begin() as session:
            found = select(MuteRow.lineage, MuteRow.id).where(MuteRow.channel == channel, condition)
            lineages = {lineage or row_id for lineage, row_id in session.execute(found)}
            if lineages:
                session.execute(
                    delete(MuteRow).where(
                        MuteRow.channel == channel,
                        or_(MuteRow.lineage.in_(lineages), MuteRow.id.in_(lineages)),
                    )
                )
            return len(lineages)


def _mute(row: MuteRow) -> Mute:
    return Mute(
        row.channel, row.run_id, row.cluster_id, row.title, row.until, row.created_by, row.lineage
    )


def _eq_or_null(
    column: InstrumentedAttribute[str | None], value: str | None
) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
