"""The outbox state machine: each Slack message is stored before it is sent and marked sent on
Slack's ok. The row stays a plain row; every change of its status is one named transition here.

    pending --claim--> sending --mark_sent--> sent
    sending --renew_claim--> sending (the holder's lease starts again)
    sending --mark_unsent--> pending (retry later) | failed (permanent, expired, too many tries)
    sending --mark_ambiguous--> sending, `last_error` set: Slack may have posted it; the next
            drain looks it up (`needs_lookup`)
    sending --reclaim--> sending (a stale or ambiguous claim taken over by compare-and-swap)
    sending --give_up--> failed (a delivery that can never be confirmed)
    sending --rehome--> pending, in another thread (the thread it was to join is gone: Slack
            said so, or its parent failed for good; nothing was posted)
    sending --release_claims--> sending, `last_error` set (a stopping sender lets go)
    pending --wait_for_channel--> pending | failed (held back, unsent, while its channel is
            unreachable; failed once the channel's grace, `start_channel_grace`, is over)

A claim is a lease: `claimed_by` names the holder, `claimed_at` is when it took or last renewed
the claim, and another sender may take the row over only once the lease has run out
(bot/slack/recovery.py `is_stale`). Every transition out of `sending` names the holder and
changes nothing (returns False or None) when that holder lost the claim, so a sender that was
taken over can never overwrite what the new holder does.

A `sending` row with `last_error` set is "ambiguous": the status column keeps its four values
(no migration), and `needs_lookup` is the one place that reads the flag.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.schema import ChannelPaceRow, OutboxRow

MAX_ATTEMPTS = 8
PER_CHANNEL = 50
"""The most rows of one channel a drain reads: a channel the bot cannot post to (or one with a
backlog) never fills a drain and holds the other channels back."""


class OutboxStatus(StrEnum):
    """The values of `OutboxRow.status` (stored as they are)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def needs_lookup(row: OutboxRow) -> bool:
    """A `sending` row whose sender saw an ambiguous failure, or stopped, and let go of it:
    the message may be in Slack, so it is looked up before it is sent again."""
    return row.status == OutboxStatus.SENDING and row.last_error is not None


class OutboxStore:
    _session: sessionmaker[Session]
    clock: Callable[[], datetime]  # the store's clock (`Store`)

    def deliverable(self, limit: int = 200, per_channel: int = PER_CHANNEL) -> list[OutboxRow]:
        """Unsent rows, fair across channels: the oldest `per_channel` of each channel, taken
        in turns (every channel's oldest row, then every channel's second, ...). Within a
        channel they come in creation order: parents before their replies."""
        unsent = OutboxRow.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))
        turn = (
            func.row_number()
            .over(partition_by=OutboxRow.channel, order_by=OutboxRow.id)
            .label("turn")
        )
        ranked = select(OutboxRow.id, turn).where(unsent).subquery()
        with self._session() as session:
            return list(
                session.scalars(
                    select(OutboxRow)
                    .join(ranked, ranked.c.id == OutboxRow.id)
                    .where(ranked.c.turn <= per_channel)
                    .order_by(ranked.c.turn, OutboxRow.id)
                    .limit(limit)
                )
            )

    def sent_ts(self, channel: str, key: str) -> str | None:
        with self._session() as session:
            return session.scalar(
                select(OutboxRow.ts).where(
                    OutboxRow.channel == channel,
                    OutboxRow.key == key,
                    OutboxRow.status == OutboxStatus.SENT,
                )
            )

    def claim(self, row_id: int, owner: str) -> bool:
        """pending -> sending, leased to `owner`; False if another worker got there first."""
        now = self.clock()
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.SENDING,
                    claimed_at=now,
                    claimed_by=owner,
                    # The last try's error, kept, would read as "let go of" (`needs_lookup`).
                    last_error=None,
                    first_attempt_at=func.coalesce(OutboxRow.first_attempt_at, now),
                    attempts=OutboxRow.attempts + 1,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def reclaim(self, row_id: int, claimed_at: datetime | None, owner: str) -> bool:
        """Take over a `sending` row left by a crash or an ambiguous failure.

        A compare-and-swap on `claimed_at`: of several processes that saw the same stale claim,
        exactly one wins; the winner's fresh claim keeps the others off while it looks the
        message up in Slack and, only if it is not there, sends it. A holder that renewed its
        lease in the meantime moved `claimed_at`, so a live holder is never taken over.
        """
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.status == OutboxStatus.SENDING,
                    OutboxRow.claimed_at == claimed_at
                    if claimed_at is not None
                    else OutboxRow.claimed_at.is_(None),
                )
                .values(
                    claimed_at=self.clock(),
                    claimed_by=owner,
                    last_error=None,
                    attempts=OutboxRow.attempts + 1,
                    recoveries=OutboxRow.recoveries + 1,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _held(row_id: int, owner: str) -> tuple[ColumnElement[bool], ...]:
        """The row is `sending` under `owner`'s claim."""
        return (
            OutboxRow.id == row_id,
            OutboxRow.status == OutboxStatus.SENDING,
            OutboxRow.claimed_by == owner,
        )

    def renew_claim(self, row_id: int, owner: str) -> bool:
        """Start `owner`'s lease on the row again; False when `owner` no longer holds it (it was
        taken over, or released after an ambiguous failure): then it must not send it."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(*self._held(row_id, owner), OutboxRow.last_error.is_(None))
                .values(claimed_at=self.clock())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_sent(self, row_id: int, ts: str, owner: str) -> bool:
        """sending -> sent with Slack's `ts`, if `owner` still holds the claim. False when it
        lost it: the new holder looks the message up by its metadata and finds it."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(*self._held(row_id, owner))
                .values(status=OutboxStatus.SENT, ts=ts, sent_at=self.clock(), last_error=None)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_unsent(
        self,
        row_id: int,
        error: str,
        owner: str,
        *,
        permanent: bool = False,
        rate_limited: bool = False,
        give_up_after: timedelta | None = None,
    ) -> OutboxStatus | None:
        """Back to pending after a failed send, or failed for good. Returns the new status.

        Rate limiting is Slack asking us to wait, not a failure: it gives the attempt back, so a
        long 429 storm delays alerts but never fails them. `give_up_after` fails the row once
        that long has passed since its first attempt, whatever the attempts (errors a human has
        to fix, such as a channel the bot was not invited to). None if `owner` no longer holds
        the row's claim (then the new holder decides)."""
        with self._session.begin() as session:
            row = session.scalars(
                select(OutboxRow).where(*self._held(row_id, owner)).with_for_update()
            ).first()
            if row is None:
                return None
            row.last_error = error[:500]
            if rate_limited or give_up_after is not None:
                row.attempts = max(0, row.attempts - 1)
            expired = (
                give_up_after is not None
                and row.first_attempt_at is not None
                and self.clock() - row.first_attempt_at >= give_up_after
            )
            failed = permanent or expired or row.attempts >= MAX_ATTEMPTS
            status = OutboxStatus.FAILED if failed else OutboxStatus.PENDING
            row.status = status
            return status

    def message(self, channel: str, key: str) -> OutboxRow | None:
        with self._session() as session:
            return session.scalar(
                select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.key == key)
            )

    def latest_version(self, channel: str, key: str) -> tuple[str, list[dict[str, object]]] | None:
        """The text and blocks message `key` shows in Slack once every update stored for it is
        out: those of its newest update row (a `ParentUpdateKey`, bot/store/keys.py), else its
        own."""
        with self._session() as session:
            row = session.scalars(
                select(OutboxRow)
                .where(
                    OutboxRow.channel == channel,
                    or_(
                        OutboxRow.key == key,
                        (OutboxRow.action == "update") & (OutboxRow.parent_key == key),
                    ),
                )
                .order_by(OutboxRow.id.desc())
                .limit(1)
            ).first()
            return (row.text, list(row.blocks)) if row is not None else None

    def status_of(self, channel: str, key: str) -> str | None:
        with self._session() as session:
            return session.scalar(
                select(OutboxRow.status).where(OutboxRow.channel == channel, OutboxRow.key == key)
            )

    def reserve_slot(self, channel: str, interval: timedelta) -> float:
        """Book the channel's next send slot for this process; returns the seconds to wait for
        it. Atomic across processes: a row lock on PostgreSQL, the write lock on SQLite."""
        now = self.clock()
        with self._session.begin() as session:
            row = session.get(ChannelPaceRow, channel, with_for_update=True)
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(ChannelPaceRow(channel=channel, next_at=now + interval))
                    return 0.0
                except IntegrityError:
                    row = session.get(ChannelPaceRow, channel, with_for_update=True)
                    assert row is not None
            slot = max(now, row.next_at)
            row.next_at = slot + interval
            return (slot - now).total_seconds()

    def start_channel_grace(self, channel: str) -> int:
        """The channel refused a message for want of a person: the grace of every pending row
        of it starts now, if it has not yet, whether or not a drain reads that row soon."""
        now = self.clock()
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.channel == channel,
                    OutboxRow.status == OutboxStatus.PENDING,
                    OutboxRow.first_attempt_at.is_(None),
                )
                .values(first_attempt_at=now)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def wait_for_channel(
        self, row_id: int, error: str, give_up_after: timedelta
    ) -> OutboxStatus | None:
        """A pending row held back, unsent, because its channel just refused another message
        with `error` (the bot is not in it): the row's grace starts now if it has not yet, and
        once it is over the row fails. Returns the new status; None if the row is not pending
        any more."""
        now = self.clock()
        with self._session.begin() as session:
            row = session.scalars(
                select(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == OutboxStatus.PENDING)
                .with_for_update()
            ).first()
            if row is None:
                return None
            row.last_error = error[:500]
            row.first_attempt_at = row.first_attempt_at or now
            if now - row.first_attempt_at >= give_up_after:
                row.status = OutboxStatus.FAILED
            return OutboxStatus(row.status)

    def release_claims(self, owner: str, keep: Collection[int] = ()) -> int:
        """A stopping sender lets go of its `sending` rows, except `keep` (rows it may still be
        sending: they stay leased until the lease runs out): marked ambiguous, so the next drain
        anywhere looks each one up in Slack at once and sends it only if it is not there."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.status == OutboxStatus.SENDING,
                    OutboxRow.claimed_by == owner,
                    OutboxRow.id.not_in(list(keep)),
                )
                .values(last_error="released by a stopping sender")
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def give_up(self, row_id: int, reason: str, owner: str) -> bool:
        """A `sending` row whose delivery can never be confirmed: failed, with the reason.
        False if `owner` no longer holds its claim."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(*self._held(row_id, owner))
                .values(status=OutboxStatus.FAILED, last_error=reason[:500])
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def rehome(
        self,
        row_id: int,
        owner: str,
        parent_key: str,
        text: str,
        blocks: list[dict[str, object]],
        reason: str,
    ) -> bool:
        """A claimed reply whose thread is gone, certain not to have posted, moved to the thread
        of `parent_key` with its new `text` and `blocks`, pending again (the attempt does not
        count: the message did nothing wrong). False if `owner` no longer holds its claim."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow)
                .where(*self._held(row_id, owner))
                .values(
                    status=OutboxStatus.PENDING,
                    parent_key=parent_key,
                    text=text,
                    blocks=blocks,
                    last_error=reason[:500],
                    attempts=OutboxRow.attempts - 1,  # the claim counted one: at least 1
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_ambiguous(self, row_id: int, error: str, owner: str) -> bool:
        """The send failed in a way that may still have posted: keep `sending` for recovery.
        False if `owner` no longer holds its claim."""
        with self._session.begin() as session:
            result = session.execute(
                update(OutboxRow).where(*self._held(row_id, owner)).values(last_error=error[:500])
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def outbox_counts(self) -> dict[str, int]:
        """How many rows are in each status (a status with none is left out)."""
        with self._session() as session:
            rows = session.execute(
                select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
            ).all()
        return {status: int(count) for status, count in rows}

    def outbox_failures(self) -> dict[str | None, int]:
        """How many rows failed with each `last_error` (None: failed without one)."""
        with self._session() as session:
            rows = session.execute(
                select(OutboxRow.last_error, func.count())
                .where(OutboxRow.status == OutboxStatus.FAILED)
                .group_by(OutboxRow.last_error)
            ).all()
        return {error: int(count) for error, count in rows}

    def outbox(self, channel: str | None = None) -> list[OutboxRow]:
        with self._session() as session:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if channel:
                query = query.where(OutboxRow.channel == channel)
            return list(session.scalars(query))
