"""Delivery to Slack: the outbox drain (exactly once) and direct thread replies.

Exactly once: a message is in the outbox before it is sent and marked sent when Slack returns
its `ts`. A 429 is certain not to have posted, so slack_sdk retries it after `Retry-After`. A 5xx
or a dropped connection is ambiguous: the message may or may not be in the channel. Such a row
stays `sending`, and the next drain looks for it in Slack by the outbox key carried in the
message's metadata before posting again. So neither a crash, a restart nor a flaky network
loses or repeats a message.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.store.schema import OutboxRow
from bot.store.store import Store

logger = logging.getLogger(__name__)

METADATA_EVENT = "clusters_bot_message"
NOTICE_EVENT = "clusters_bot_notice"  # a note about delivery itself, outside the outbox
# Errors that will not go away by trying again; the row is marked failed and reported.
PERMANENT_ERRORS = frozenset(
    {
        "is_archived",
        "invalid_blocks",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "msg_too_long",
        "no_text",
        "restricted_action",
    }
)


# Errors a person fixes (inviting the bot; for a private channel Slack answers
# channel_not_found to a non-member): retried for `CHANNEL_GRACE`, then failed and reported.
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel"})
CHANNEL_GRACE = timedelta(hours=1)
# ok: false answers after which the message may have been posted (Slack's docs say so).
AMBIGUOUS_ERRORS = frozenset({"internal_error", "fatal_error"})
# Lookups of an ambiguous send before the row is failed as unconfirmable; pages of history each.
MAX_RECOVERIES = 6
MAX_LOOKUP_PAGES = 10


OUTBOX_MAX_WAIT = 5.0
"""The longest Retry-After the outbox client waits out inside a call. A sender holds its claim
while it waits, and a claim is taken over after `recover_after` (30 s): a longer wait would let
another process send the same message, so the row goes back to pending instead."""


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 only when Slack asks for at most `max_wait` seconds."""

    def __init__(self, *, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        waits = [v for k, v in response.headers.items() if k.lower() == "retry-after"]
        try:
            wait = float(waits[0][0] if isinstance(waits[0], list) else waits[0]) if waits else 1.0
        except ValueError:
            return False
        return wait <= self.max_wait


def make_web_client(token: str, base_url: str, *, interactive: bool = True) -> WebClient:
    """A WebClient whose retries are safe for its use.

    `interactive` clients (drilldowns, command replies) retry 429, 5xx and connection errors;
    the outbox client retries only short 429s (`OUTBOX_MAX_WAIT`), and resolves ambiguous
    failures itself.
    """
    handlers: list[object] = [
        RateLimitErrorRetryHandler(max_retry_count=3)
        if interactive
        else ShortRateLimitRetryHandler(max_retry_count=3, max_wait=OUTBOX_MAX_WAIT)
    ]
    if interactive:
        handlers += [
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    return WebClient(token=token, base_url=base_url, timeout=15, retry_handlers=handlers)  # type: ignore[arg-type]


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


# Called once per delivered row after a drain: (channel, thread_ts, key). Charts use it.
OnSent = Callable[[str, str | None, str], object]


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        store: Store,
        *,
        notice_channel: str | None = None,
        min_interval: float = 1.0,
        recover_after: timedelta = timedelta(seconds=30),
        sleep: Callable[[float], None] = time.sleep,
        on_sent: OnSent | None = None,
    ) -> None:
        self._client = client
        self._on_sent = on_sent
        self._store = store
        self._min_interval = min_interval
        self._notice_channel = notice_channel
        self._recover_after = recover_after
        self._sleep = sleep
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # -- the outbox -----------------------------------------------------------------------

    def deliver(self) -> DeliveryReport:
        """Send every deliverable outbox row, parents before their replies."""
        report = DeliveryReport()
        limited: set[str] = set()  # channels Slack asked us to leave alone for a while
        for row in self._store.deliverable():
            if row.channel in limited:
                continue
            thread_ts = None
            if row.parent_key:
                thread_ts = self._store.sent_ts(row.channel, row.parent_key)
                if thread_ts is None:
                    if self._store.status_of(row.channel, row.parent_key) == "failed":
                        self._store.mark_unsent(row.id, "its parent failed", permanent=True)
                        self._note_failure(row, "its parent failed", "failed", report)
                    continue  # the parent is not out yet; the reply waits for it
            if row.status == "sending":
                if not self._stale(row) or not self._store.reclaim(
                    row.id, row.claimed_at, self.owner
                ):
                    continue  # another worker is sending it, or just took it over
                if row.action == "update":
                    self._send(row, thread_ts, report)  # an update sent twice changes nothing
                    continue
                try:
                    found = self._find_sent(row, thread_ts)
                except (SlackApiError, SlackClientError, OSError) as error:
                    logger.warning("slack.outbox.recovery_failed", extra={"error": repr(error)})
                    if row.recoveries + 1 >= MAX_RECOVERIES:
                        reason = f"delivery could not be confirmed after {MAX_RECOVERIES} lookups"
                        self._store.give_up(row.id, reason)
                        self._note_failure(row, reason, "failed", report)
                        continue
                    self._store.mark_ambiguous(row.id, "recovery lookup failed")
                    report.retrying += 1
                    continue  # cannot tell whether it was posted: never guess, ask again later
                if found:
                    self._store.mark_sent(row.id, found)
                    report.recovered += 1
                    report.delivered.append((row.channel, thread_ts, row.key))
                    continue
            elif not self._store.claim(row.id, self.owner):
                continue
            if self._send(row, thread_ts, report) == "rate_limited":
                limited.add(row.channel)
        self._after_sent(report)
        self._tell_a_human(report)
        if report.sent or report.failed or report.recovered:
            logger.info(
                "slack.outbox.drained",
                extra={
                    "sent": report.sent,
                    "recovered": report.recovered,
                    "retrying": report.retrying,
                    "failed": len(report.failed),
                },
            )
        return report

    def _stale(self, row: OutboxRow) -> bool:
        if row.last_error:  # the sender saw an ambiguous failure and let go of the row
            return True
        if row.claimed_by and _dead(row.claimed_by):
            return True  # its sender is gone: no need to wait out `recover_after`
        return row.claimed_at is None or self._store.clock() - row.claimed_at >= self._recover_after

    def _send(self, row: OutboxRow, thread_ts: str | None, report: DeliveryReport) -> str:
        """Send one claimed row; returns "sent", "ambiguous", "rate_limited" or "unsent"."""
        self._pace(row.channel)
        try:
            if row.action == "update":
                response = self._client.chat_update(
                    channel=row.channel, ts=thread_ts or "", text=row.text, blocks=row.blocks
                )
            else:
                response = self._client.chat_postMessage(
                    channel=row.channel,
                    text=row.text,
                    blocks=row.blocks,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={"event_type": METADATA_EVENT, "event_payload": {"key": row.key}},
                )
        except SlackApiError as error:
            code = str(error.response.get("error", "unknown_error"))
            if error.response.status_code >= 500 or code in AMBIGUOUS_ERRORS:
                # A server error, or an ok: false that Slack says may have posted: it says
                # nothing certain of the post.
                self._ambiguous(row, error, report)
                return "ambiguous"
            if code == "not_in_channel":
                self._join(row.channel)
            status = self._store.mark_unsent(
                row.id,
                code,
                permanent=code in PERMANENT_ERRORS,
                rate_limited=error.response.status_code == 429,
                give_up_after=CHANNEL_GRACE if code in CHANNEL_ERRORS else None,
            )
            self._note_failure(row, code, status, report)
            return "rate_limited" if error.response.status_code == 429 else "unsent"
        except (SlackClientError, OSError) as error:
            self._ambiguous(row, error, report)
            return "ambiguous"
        self._store.mark_sent(row.id, str(response["ts"]))
        report.sent += 1
        report.delivered.append((row.channel, thread_ts, row.key))
        return "sent"

    def _after_sent(self, report: DeliveryReport) -> None:
        """Extras (charts) for what this drain delivered: only after every text is out and
        marked sent, and never able to fail the drain. Not exactly-once: a crash here loses
        them, a retry never repeats them."""
        if self._on_sent is None:
            return
        for channel, thread_ts, key in report.delivered:
            try:
                self._on_sent(channel, thread_ts, key)
            except Exception as error:
                logger.warning(
                    "slack.outbox.on_sent_failed", extra={"key": key, "error": repr(error)[:300]}
                )

    def _tell_a_human(self, report: DeliveryReport) -> None:
        """One notice per channel and drain for messages that failed for good: in the channel
        itself, or, when the channel is the problem, in the default alert channel. Best effort:
        the log and /metrics (outbox messages by status) have them anyway."""
        by_channel: dict[str, list[str]] = {}
        for failure in report.failed:
            channel, _, reason = failure.partition(": ")
            by_channel.setdefault(channel, []).append(reason)
        for channel, reasons in by_channel.items():
            unreachable = any(r in CHANNEL_ERRORS for r in reasons)
            where = self._notice_channel if unreachable else channel
            if where is None or (unreachable and where == channel):
                continue
            counts = ", ".join(f"{reasons.count(r)} × {r}" for r in sorted(set(reasons)))
            text = (
                f":warning: {len(reasons)} alert message(s) for <#{channel}> could not be "
                f"delivered ({counts}). `clusters-bot doctor` checks the setup."
            )
            try:
                self._pace(where)
                self._client.chat_postMessage(
                    channel=where,
                    text=text,
                    unfurl_links=False,
                    metadata={"event_type": NOTICE_EVENT, "event_payload": {"channel": channel}},
                )
            except (SlackApiError, SlackClientError, OSError) as error:
                logger.warning(
                    "slack.outbox.notice_failed",
                    extra={"channel": where, "error": repr(error)[:300]},
                )

    def _ambiguous(self, row: OutboxRow, error: Exception, report: DeliveryReport) -> None:
        """Slack may have posted it. Leave the row `sending`; the next drain looks it up."""
        self._store.mark_ambiguous(row.id, f"{type(error).__name__}: {error}"[:300])
        report.retrying += 1
        logger.warning(
            "slack.outbox.ambiguous",
            extra={"channel": row.channel, "key": row.key, "error": repr(error)[:300]},
        )

    def _note_failure(self, row: OutboxRow, code: str, status: str, report: DeliveryReport) -> None:
        if status == "failed":
            report.failed.append(f"{row.channel}: {code}")
            logger.error(
                "slack.outbox.failed", extra={"channel": row.channel, "key": row.key, "error": code}
            )
        else:
            report.retrying += 1
            if code in CHANNEL_ERRORS:
                report.waiting.append(f"{row.channel}: {code}")
            logger.warning(
                "slack.outbox.retrying",
                extra={"channel": row.channel, "key": row.key, "error": code},
            )

    def _find_sent(self, row: OutboxRow, thread_ts: str | None) -> str | None:
        """Look for the row's message in Slack by its metadata key (after an ambiguous send),
        from just before its first send attempt, page by page."""
        oldest = (row.first_attempt_at or row.claimed_at or row.created_at) - timedelta(seconds=5)
        since = f"{_epoch(oldest):.6f}"
        cursor: str | None = None
        for _ in range(MAX_LOOKUP_PAGES):
            if thread_ts:
                response = self._client.conversations_replies(
                    channel=row.channel,
                    ts=thread_ts,
                    oldest=since,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                response = self._client.conversations_history(
                    channel=row.channel,
                    oldest=since,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("key") == row.key
                ):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        raise SlackClientError(f"more than {MAX_LOOKUP_PAGES} pages to search")

    def _join(self, channel: str) -> None:
        """The bot can join a public channel itself (channels:join); a private one needs an
        /invite, which `doctor` and the retries' log say."""
        try:
            self._client.conversations_join(channel=channel)
        except (SlackApiError, SlackClientError, OSError) as error:
            logger.warning(
                "slack.outbox.join_failed", extra={"channel": channel, "error": repr(error)[:300]}
            )

    def _pace(self, channel: str) -> None:
        """Slack allows about one message per second per channel (slack.md A9): every process
        books its slot in the store, so several replicas posting to one channel stay in pace."""
        if self._min_interval <= 0:
            return
        wait = self._store.reserve_slot(channel, timedelta(seconds=self._min_interval))
        if wait > 0:
            self._sleep(wait)

    def release(self) -> int:
        """Let go of this process's claims when it stops (rows it was sending are looked up by
        the next drain instead of waiting out `recover_after`)."""
        return self._store.release_claims(self.owner)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _dead(owner: str) -> bool:
    """Whether the process that claimed a row is known to be gone: one of this host's,
    whose process id no longer runs. On other hosts, only time tells (`recover_after`)."""
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process: its other drains may still be sending
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
