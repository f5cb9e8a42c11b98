"""One sender's drain of the outbox: every deliverable row claimed, sent and recorded once.

Exactly once: a message is in the outbox before it is sent and marked sent when Slack returns
its `ts`. A 429 is certain not to have posted, so slack_sdk retries it after `Retry-After`. A 5xx
or a dropped connection is ambiguous: the message may or may not be in the channel. Such a row
stays `sending`, and the next drain looks for it in Slack by the outbox key carried in the
message's metadata before posting again. So neither a crash, a restart nor a flaky network
loses or repeats a message. Failures are classified by bot/slack/errors.py; the row's status
changes only through the named transitions of bot/store/outbox.py.

Claims are leases (bot/slack/lease.py): the sender renews its lease while it sends and checks
that it still holds the claim right before the post and when it records the outcome, so a slow
send is never taken over and posted twice. A drain reads every channel's oldest rows in turns,
and a channel that refuses a message for want of a person (the bot is not in it) is not tried
again in that drain: its rows wait, unsent, and one dead channel never holds the others back.

A reply whose thread is gone (Slack says `thread_not_found`, or its parent failed for good) is
lost unless it has another home: an alert that lives in an early warning's thread, and its
later notes, move to the thread of the run message that lists the alert (`keys.fallback_thread`)
with a line saying why, and go out there. The warning's own notes and edits fail quietly: a
person deleted it, and needs no notice that the bot could not add to it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.slack.errors import (
    CHANNEL_GRACE,
    SlackErrorClass,
    SlackFailure,
    SlackWriteError,
    is_channel_problem,
)
from bot.slack.lease import ClaimKeeper
from bot.slack.recovery import MAX_RECOVERIES, METADATA_EVENT, find_sent, is_stale
from bot.slack.writer import SlackWriter
from bot.store.keys import fallback_thread, follows_early_warning
from bot.store.outbox import PER_CHANNEL, OutboxStatus
from bot.store.ports import OutboxSender
from bot.store.schema import OutboxRow

logger = logging.getLogger(__name__)

PASS_LIMIT = 200  # rows one pass of a drain reads
MAX_PASSES = 10  # passes of one drain
THREAD_GONE = "the early warning's thread is gone"
GONE = ("thread_not_found", "message_not_found")  # the message a reply or an edit is for
MOVED_NOTE = (
    ":information_source: This followed an early warning whose message is gone (deleted, or "
    "never posted), so it is here, in the thread of the run that alerted it."
)


@dataclass
class DeliveryReport:
    sent: int = 0
    recovered: int = 0
    retrying: int = 0
    failed: list[str] = field(default_factory=list)
    # "channel: error" of messages held back by a channel problem a person has to fix (the bot
    # is not in the channel); retried for `CHANNEL_GRACE`, then failed.
    waiting: list[str] = field(default_factory=list)
    # (channel, thread_ts or None for a top-level message, outbox key) of each row marked sent
    delivered: list[tuple[str, str | None, str]] = field(default_factory=list)
    # rows whose claim another sender took over while this one worked on them (it looks
    # the message up in Slack, so it is neither lost nor posted twice)
    claims_lost: int = 0


class OutboxDrain:
    """The drains of one sender (`owner`): `run` sends what is deliverable now. `paced` keeps
    each channel's pace; posts, updates and joins go out on `client` unpaced, right after the
    claim is checked. A set `stopping` ends a drain before its next row."""

    def __init__(
        self,
        client: WebClient,
        store: OutboxSender,
        owner: str,
        *,
        paced: SlackWriter,
        keeper: ClaimKeeper,
        recover_after: timedelta,
        stopping: threading.Event,
    ) -> None:
        self._client = client
        self._store = store
        self.owner = owner
        self._paced = paced
        self._out = SlackWriter(client)
        self._keeper = keeper
        self._recover_after = recover_after  # the lease of a claim
        self._stopping = stopping

    def run(self, report: DeliveryReport) -> None:
        """Passes over what `deliverable` reads (a share of each channel), while a pass that
        read a full share got something done. Each row is tried at most once per drain."""
        limited: set[str] = set()  # channels Slack asked us to leave alone for a while
        unreachable: dict[str, str] = {}  # channel -> the error a person has to fix
        tried: set[int] = set()
        for _ in range(MAX_PASSES):
            rows = self._store.deliverable(limit=PASS_LIMIT, per_channel=PER_CHANNEL)
            done = report.sent + report.recovered + len(report.failed)
            for row in rows:
                if self._stopping.is_set():
                    return  # the rest waits for the next drain, here or in another process
                if row.id not in tried:
                    tried.add(row.id)
                    self._deliver_row(row, limited, unreachable, report)
            shares = Counter(row.channel for row in rows).values()
            full = len(rows) >= PASS_LIMIT or any(n >= PER_CHANNEL for n in shares)
            if not full or report.sent + report.recovered + len(report.failed) == done:
                return

    def _deliver_row(
        self,
        row: OutboxRow,
        limited: set[str],
        unreachable: dict[str, str],
        report: DeliveryReport,
    ) -> None:
        if row.channel in limited:
            return
        ready, thread_ts = self._parent_ready(row, report)
        if not ready:
            return  # the parent is not out yet (the reply waits for it), or failed
        if row.channel in unreachable:
            self._wait_for_channel(row, unreachable[row.channel], report)
            return
        with self._keeper.holding(row.id):
            failure = self._claim_and_send(row, thread_ts, report)
        if failure is not None and failure.rate_limited:
            limited.add(row.channel)
        elif failure is not None and failure.channel_problem:
            unreachable[row.channel] = failure.code
            self._store.start_channel_grace(row.channel)

    def _claim_and_send(
        self, row: OutboxRow, thread_ts: str | None, report: DeliveryReport
    ) -> SlackFailure | None:
        """Claim the row (or take over a stale claim) and send it; the failure, if Slack
        refused it."""
        if row.status == OutboxStatus.SENDING:
            if not self._take_over(row, thread_ts, report):
                return None
        elif not self._store.claim(row.id, self.owner):
            return None  # another worker got there first
        return self._send(row, thread_ts, report)

    def _parent_ready(self, row: OutboxRow, report: DeliveryReport) -> tuple[bool, str | None]:
        """(whether `row` can go now, the thread it goes into). A reply whose parent failed
        fails with it."""
        if not row.parent_key:
            return True, None
        thread_ts = self._store.sent_ts(row.channel, row.parent_key)
        if thread_ts is not None:
            return True, thread_ts
        if self._store.status_of(row.channel, row.parent_key) == OutboxStatus.FAILED:
            # Failed without a send: claimed first, so that no other sender has it.
            if row.status == OutboxStatus.PENDING and self._store.claim(row.id, self.owner):
                if self._rehome(row):
                    return self._parent_ready(row, report)
                self._store.mark_unsent(row.id, "its parent failed", self.owner, permanent=True)
                self._note_failure(row, "its parent failed", OutboxStatus.FAILED, report)
        return False, None

    def _rehome(self, row: OutboxRow) -> bool:
        """Move a claimed reply whose thread is gone to its other home, if it has one
        (module doc); `row` then reads as the pending row it now is."""
        home = fallback_thread(row.key, row.parent_key)
        if home is None:
            return False
        note: dict[str, object] = {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": MOVED_NOTE}],
        }
        blocks = [note, *row.blocks]
        text = f"{MOVED_NOTE} {row.text}"
        if not self._store.rehome(row.id, self.owner, home, text, blocks, THREAD_GONE):
            return False
        logger.warning(
            "slack.outbox.rehomed",
            extra={"channel": row.channel, "key": row.key, "from": row.parent_key, "to": home},
        )
        row.parent_key, row.text, row.blocks = home, text, blocks
        row.status, row.attempts = OutboxStatus.PENDING, max(0, row.attempts - 1)
        return True

    def _take_over(self, row: OutboxRow, thread_ts: str | None, report: DeliveryReport) -> bool:
        """A `sending` row: reclaim it if its holder let go or its lease ran out, then look it
        up in Slack before sending again. True when it still has to be sent (under this
        sender's claim)."""
        if not is_stale(row, self._recover_after, self._store.clock()):
            return False  # another worker holds it and keeps its lease renewed
        if not self._store.reclaim(row.id, row.claimed_at, self.owner):
            return False  # another worker just took it over, or its holder renewed the lease
        if row.action == "update":
            return True  # an update sent twice changes nothing
        try:
            found = find_sent(self._client, row, thread_ts)
        except (SlackClientError, OSError) as error:
            logger.warning("slack.outbox.recovery_failed", extra={"error": repr(error)})
            if row.recoveries + 1 >= MAX_RECOVERIES:
                reason = f"delivery could not be confirmed after {MAX_RECOVERIES} lookups"
                if self._store.give_up(row.id, reason, self.owner):
                    self._note_failure(row, reason, OutboxStatus.FAILED, report)
                else:
                    self._claim_lost(row, report)
                return False
            if self._store.mark_ambiguous(row.id, "recovery lookup failed", self.owner):
                report.retrying += 1
            else:
                self._claim_lost(row, report)
            return False  # cannot tell whether it was posted: never guess, ask again later
        if found is None:
            return True
        if self._store.mark_sent(row.id, found, self.owner):
            report.recovered += 1
            report.delivered.append((row.channel, thread_ts, row.key))
        else:
            self._claim_lost(row, report)
        return False

    def _send(
        self, row: OutboxRow, thread_ts: str | None, report: DeliveryReport
    ) -> SlackFailure | None:
        """Send one claimed row: wait for the channel's slot, check the claim is still this
        sender's, post. Returns the failure when Slack refused it."""
        self._paced.pace(row.channel)
        if not self._store.renew_claim(row.id, self.owner):
            self._claim_lost(row, report)  # taken over while waiting: never post it then
            return None
        try:
            if row.action == "update":
                ts = self._out.update(row.channel, thread_ts or "", row.text, row.blocks)
            else:
                metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": row.key}}
                ts = self._out.post(
                    row.channel, row.text, row.blocks, thread_ts=thread_ts, metadata=metadata
                )
        except SlackWriteError as error:
            failure = error.failure
            if failure.cls is SlackErrorClass.AMBIGUOUS:
                self._ambiguous(row, error.cause, report)
                return None
            if failure.code in GONE and self._rehome(row):
                return self._resend(row, report)
            if failure.code == "not_in_channel":
                self._join(row.channel)
            status = self._store.mark_unsent(
                row.id,
                failure.code,
                self.owner,
                permanent=failure.cls is SlackErrorClass.PERMANENT,
                rate_limited=failure.rate_limited,
                give_up_after=CHANNEL_GRACE if failure.channel_problem else None,
            )
            if status is None:
                self._claim_lost(row, report)
            elif failure.code in GONE and follows_early_warning(row.parent_key):
                # A note on, or an edit of, a warning a person deleted: nothing to tell them.
                logger.info("slack.outbox.warning_gone", extra={"key": row.key})
            else:
                self._note_failure(row, failure.code, status, report)
            return failure
        if not self._store.mark_sent(row.id, ts, self.owner):
            self._claim_lost(row, report)  # posted; the new holder finds it by its metadata
            return None
        report.sent += 1
        report.delivered.append((row.channel, thread_ts, row.key))
        return None

    def _resend(self, row: OutboxRow, report: DeliveryReport) -> SlackFailure | None:
        """A row just moved to its other home: sent there now when that thread is out."""
        ready, thread_ts = self._parent_ready(row, report)
        if not ready or not self._store.claim(row.id, self.owner):
            return None  # the next drain sends it
        return self._send(row, thread_ts, report)

    def _wait_for_channel(self, row: OutboxRow, code: str, report: DeliveryReport) -> None:
        """A row for a channel that refused a message in this drain for want of a person: not
        sent (Slack would refuse it too), it waits for the channel, and fails with the others
        once the channel's grace is over."""
        if row.status != OutboxStatus.PENDING:
            return  # a claimed row: its holder, or the drain that takes it over, decides
        started = row.first_attempt_at
        if started is None or self._store.clock() - started >= CHANNEL_GRACE:
            status = self._store.wait_for_channel(row.id, code, CHANNEL_GRACE)
            if status is None:
                return
            if status == OutboxStatus.FAILED:
                self._note_failure(row, code, status, report)
                return
        report.retrying += 1  # one line in the log per channel is enough: the probe's
        report.waiting.append(f"{row.channel}: {code}")

    def _claim_lost(self, row: OutboxRow, report: DeliveryReport) -> None:
        report.claims_lost += 1
        logger.warning("slack.outbox.claim_lost", extra={"channel": row.channel, "key": row.key})

    def _ambiguous(self, row: OutboxRow, error: BaseException, report: DeliveryReport) -> None:
        """Slack may have posted it. Leave the row `sending`; the next drain looks it up."""
        if not self._store.mark_ambiguous(
            row.id, f"{type(error).__name__}: {error}"[:300], self.owner
        ):
            self._claim_lost(row, report)
            return
        report.retrying += 1
        logger.warning(
            "slack.outbox.ambiguous",
            extra={"channel": row.channel, "key": row.key, "error": repr(error)[:300]},
        )

    def _note_failure(
        self, row: OutboxRow, code: str, status: OutboxStatus | None, report: DeliveryReport
    ) -> None:
        if status == OutboxStatus.FAILED:
            report.failed.append(f"{row.channel}: {code}")
            logger.error(
                "slack.outbox.failed", extra={"channel": row.channel, "key": row.key, "error": code}
            )
        else:
            report.retrying += 1
            if is_channel_problem(code):
                report.waiting.append(f"{row.channel}: {code}")
            logger.warning(
                "slack.outbox.retrying",
                extra={"channel": row.channel, "key": row.key, "error": code},
            )

    def _join(self, channel: str) -> None:
        """The bot can join a public channel itself (channels:join); a private one needs an
        /invite, which `doctor` and the retries' log say."""
        try:
            self._out.join(channel)
        except SlackWriteError as error:
            logger.warning(
                "slack.outbox.join_failed",
                extra={"channel": channel, "error": repr(error.cause)[:300]},
            )
