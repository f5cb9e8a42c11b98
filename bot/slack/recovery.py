"""After an ambiguous send: whose claim may be taken over, and whether Slack has the message
after all.

The outbox key travels in each message's metadata, so a message can be found again in the
channel (or thread) history without guessing from its text.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.store.outbox import needs_lookup
from bot.store.schema import OutboxRow

METADATA_EVENT = "clusters_bot_message"
# Lookups of an ambiguous send before the row is failed as unconfirmable; pages of history each.
MAX_RECOVERIES = 6
MAX_LOOKUP_PAGES = 10
DEAD_SENDER_GRACE = timedelta(seconds=20)
"""How long a dead sender's last request may still be in Slack's hands: longer than one
request's timeout (15 s, bot/slack/client.py) after its last renewal."""


def is_stale(row: OutboxRow, lease: timedelta, now: datetime) -> bool:
    """Whether a `sending` row may be taken over (`reclaim`) by another sender at `now`: its
    holder let go of it, or its lease (`lease` from the holder's last renewal) ran out. A live
    holder renews the lease while it sends (bot/slack/lease.py), however long Slack takes."""
    if needs_lookup(row):  # the sender saw an ambiguous failure, or stopped, and let go
        return True
    if row.claimed_at is None:
        return True
    idle = now - row.claimed_at
    if idle >= lease:
        return True
    # A sender on this host that is gone renews nothing: no need to wait out the whole lease,
    # only for the request it may have had in flight.
    return bool(row.claimed_by) and idle >= DEAD_SENDER_GRACE and _dead(row.claimed_by or "")


def find_sent(client: WebClient, row: OutboxRow, thread_ts: str | None) -> str | None:
    """The ts of the row's message if Slack has it, looked up by its metadata key from just
    before its first send attempt, page by page; None if it is not there. Raises when the
    lookup itself fails: then nobody can tell, and the row must not be sent again yet."""
    oldest = (row.first_attempt_at or row.claimed_at or row.created_at) - timedelta(seconds=5)
    since = f"{_epoch(oldest):.6f}"
    cursor: str | None = None
    for _ in range(MAX_LOOKUP_PAGES):
        if thread_ts:
            response = client.conversations_replies(
                channel=row.channel,
                ts=thread_ts,
                oldest=since,
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
        else:
            response = client.conversations_history(
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


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _dead(owner: str) -> bool:
    """Whether the process that claimed a row is known to be gone: one of this host's,
    whose process id no longer runs. On other hosts, only time tells (the lease)."""
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
