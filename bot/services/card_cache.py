"""Link cards kept for a short while, so one pasted link costs its PostHog queries once.

Slack sends `link_shared` twice for one link: when it is pasted in the composer (the preview)
and again when the message is posted. Both want the same card, seconds apart, and often at the
same time: the second asker waits for the first one's card instead of querying again. A card
that failed is not kept, so the next event tries afresh.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

CARD_TTL_SECONDS = 120.0  # composer preview to posted message; cards of runs barely change
CARDS_MAX = 256
WAIT_SECONDS = 30.0  # longest a second asker waits for the first one's card

Blocks = list[dict[str, Any]]


@dataclass
class _Entry:
    card: Future[Blocks]
    expires: float


class CardCache:
    def __init__(
        self,
        ttl: float = CARD_TTL_SECONDS,
        *,
        max_entries: int = CARDS_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], Blocks]) -> Blocks:
        """The card for `key`: kept from an earlier call within `ttl`, or being built by a
        concurrent one (waited for), or built now by `build`. Returns a copy to change freely."""
        now = self._clock()
        with self._lock:
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            entry = self._entries.get(key)
            mine = entry is None
            if entry is None:
                entry = _Entry(Future(), now + self.ttl)
                if len(self._entries) < self.max_entries:
                    self._entries[key] = entry
        if not mine:
            return copy.deepcopy(entry.card.result(timeout=WAIT_SECONDS))
        try:
            card = build()
        except BaseException as error:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            entry.card.set_exception(error)
            raise
        entry.card.set_result(card)
        return copy.deepcopy(card)
