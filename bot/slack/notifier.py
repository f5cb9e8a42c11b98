"""Delivery to Slack as services see it: the `Notifier` protocol, and `SlackNotifier`, which
drains the outbox (bot/slack/drain.py, exactly once) and writes into threads on request.

One drain runs at a time in a process (the alert cycle and the retry job share the notifier);
after it, the delivered rows' extras (charts) go out and a person hears of what failed for good.
`stop()` ends the drain after the message in flight and lets go of the claims.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

from slack_sdk import WebClient

from bot.slack.drain import DeliveryReport as DeliveryReport
from bot.slack.drain import OutboxDrain
from bot.slack.lease import ClaimKeeper
from bot.slack.notices import NOTICE_EVENT as NOTICE_EVENT
from bot.slack.notices import tell_a_human
from bot.slack.writer import SlackWriter, Upload
from bot.store.ports import OutboxSender

logger = logging.getLogger(__name__)


class Stopped(NamedTuple):
    finished: bool  # no send was in flight any more
    released: int  # claims let go of (the next drain anywhere looks them up at once)


class ThreadWriter(Protocol):
    """Writes into a thread that services ask for (charts, drilldown replies)."""

    def reply_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
    ) -> str: ...

    def upload_files(
        self, channel: str, thread_ts: str, files: Sequence[Upload], comment: str | None
    ) -> None: ...


class Notifier(ThreadWriter, Protocol):
    """Everything services need from Slack; a recording notifier stands in for it in tests."""

    def deliver(self) -> DeliveryReport: ...


# Called once per delivered row after a drain: (channel, thread_ts, key). Charts use it.
OnSent = Callable[[str, str | None, str], object]


class SlackNotifier:
    """The outbox drain on `client` (an outbox client: bot/slack/client.py); thread replies and
    uploads go through `writer` (an interactive client), or `client` when none is given."""

    def __init__(
        self,
        client: WebClient,
        store: OutboxSender,
        *,
        writer: SlackWriter | None = None,
        notice_channel: str | None = None,
        min_interval: float = 1.0,
        recover_after: timedelta = timedelta(seconds=30),
        renew_every: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_sent: OnSent | None = None,
    ) -> None:
        # Notices keep the channel's pace; outbox sends wait for it first, then check their
        # claim, then post at once (bot/slack/drain.py).
        self._paced = SlackWriter(client, store, min_interval=min_interval, sleep=sleep)
        self._writer = writer or self._paced
        self._on_sent = on_sent
        self._store = store
        self._notice_channel = notice_channel
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = recover_after.total_seconds()
        every = renew_every if renew_every is not None else (lease / 3 if lease > 0 else None)
        self._keeper = ClaimKeeper(store, self.owner, every)
        self._draining = threading.Lock()
        self._stopping = threading.Event()
        self._drain = OutboxDrain(
            client,
            store,
            self.owner,
            paced=self._paced,
            keeper=self._keeper,
            recover_after=recover_after,
            stopping=self._stopping,
        )

    # -- direct writes (not exactly-once: a click or a chart, not an alert) ----------------

    def reply_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        return self._writer.reply_in_thread(channel, thread_ts, text, blocks)

    def upload_files(
        self, channel: str, thread_ts: str, files: Sequence[Upload], comment: str | None
    ) -> None:
        self._writer.upload_files(channel, thread_ts, files, comment)

    # -- the outbox -----------------------------------------------------------------------

    def deliver(self) -> DeliveryReport:
        """Send every deliverable outbox row, parents before their replies. Waits for a drain
        already running in this process; after `stop()`, sends nothing."""
        report = DeliveryReport()
        with self._draining:
            if not self._stopping.is_set():
                self._drain.run(report)
        self._after_sent(report)
        tell_a_human(self._paced, self._notice_channel, report.failed)
        if report.sent or report.failed or report.recovered or report.claims_lost:
            logger.info(
                "slack.outbox.drained",
                extra={
                    "sent": report.sent,
                    "recovered": report.recovered,
                    "retrying": report.retrying,
                    "failed": len(report.failed),
                    "claims_lost": report.claims_lost,
                },
            )
        return report

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

    def stop(self, timeout: float) -> Stopped:
        """Stop delivering when the process stops: no drain takes another row, the one in
        flight is waited for up to `timeout` seconds, then this process's claims are let go of
        (the next drain anywhere looks those messages up in Slack at once). A send still in
        flight after `timeout` keeps its claim: its lease runs out after the process is gone,
        and only then is it looked up, so it cannot be posted twice meanwhile."""
        self._stopping.set()
        finished = self._draining.acquire(timeout=max(0.0, timeout))
        try:
            in_flight = set() if finished else self._keeper.held()
            released = self._store.release_claims(self.owner, keep=in_flight)
        finally:
            if finished:
                self._draining.release()
        return Stopped(finished, released)
