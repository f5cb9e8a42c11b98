"""The heartbeat of a sender's outbox claims: the lease of every row it is working on is renewed
while it works, however long one send takes.

One send can outlast any fixed lease: a 15 s timeout, up to three short 429 waits inside the
call (bot/slack/client.py), and the channel's pace before it. Another sender takes a row over
only once its lease ran out (bot/slack/recovery.py `is_stale`), so a live sender keeps it
renewed from a thread of its own, and stops renewing when the row is done or the process dies.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from bot.store.ports import ClaimRenewal

logger = logging.getLogger(__name__)


class ClaimKeeper:
    """Renews `owner`'s claims on the rows inside `holding()` every `every` seconds (none when
    `every` is None); thread-safe. The renewing thread runs only while something is held."""

    def __init__(self, store: ClaimRenewal, owner: str, every: float | None) -> None:
        self._store, self._owner, self._every = store, owner, every
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # row id -> how many holders
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def holding(self, row_id: int) -> Iterator[None]:
        """Keep the row's claim renewed (once taken) until the block ends."""
        with self._lock:
            self._held[row_id] = self._held.get(row_id, 0) + 1
            if self._every is not None and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-lease", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held[row_id] -= 1
                if not self._held[row_id]:
                    del self._held[row_id]

    def held(self) -> set[int]:
        """The rows being worked on right now."""
        with self._lock:
            return set(self._held)

    def _run(self) -> None:
        assert self._every is not None
        pause = threading.Event()
        while True:
            pause.wait(self._every)
            with self._lock:
                rows = list(self._held)
                if not rows:
                    self._thread = None
                    return
            for row_id in rows:
                try:
                    self._store.renew_claim(row_id, self._owner)
                except Exception as error:  # the database hiccuped: the next beat tries again
                    logger.warning(
                        "slack.outbox.renew_failed", extra={"row": row_id, "error": repr(error)}
                    )
