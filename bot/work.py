"""The pool that answers commands and clicks after their ack.

Slack waits 3 s for an ack. Bolt runs each listener in the HTTP request's thread and sends the
ack when the listener returns (`process_before_response`, bot/app.py), so a slow answer there
would hold its own ack and, once the server's threads are all busy, everyone else's (Slack
then shows the user an error). Listeners therefore reserve a place here, ack, and hand the
slow part over; with no place left they ack with an honest "busy" instead of queueing without
bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)


class WorkPool:
    """At most `workers` tasks run at once and `queue_limit` more wait; thread-safe."""

    def __init__(self, workers: int, queue_limit: int) -> None:
        self.workers, self.queue_limit = workers, queue_limit
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="clusters-work")
        self._places = threading.Semaphore(workers + queue_limit)
        self._lock = threading.Lock()
        self._closed = False
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def reserve(self) -> bool:
        """Take a place for one task, or False when the pool is full or closing."""
        with self._lock:
            if self._closed or not self._places.acquire(blocking=False):
                return False
            self._pending += 1
            return True

    def submit(self, task: Callable[[], None]) -> None:
        """Run `task` in the place taken by `reserve()`. Exceptions are logged, never lost;
        callers that want a user-facing reply catch them inside `task`."""

        def run() -> None:
            try:
                task()
            except Exception:
                logger.exception("work.task.failed")
            finally:
                self._release()

        try:
            self._executor.submit(run)
        except RuntimeError:  # shut down between reserve() and submit()
            self._release()
            raise

    def cancel(self) -> None:
        """Give back a place taken by `reserve()` that will not be used (the task's first step,
        before the ack, failed)."""
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1
            self._places.release()
            self._idle.notify_all()

    @property
    def pending(self) -> int:
        """Tasks running or waiting."""
        with self._lock:
            return self._pending

    def close(self, timeout: float | None = None) -> bool:
        """Take no new work and wait up to `timeout` seconds for the pending tasks; True when
        they all finished."""
        with self._lock:
            self._closed = True
            done = self._idle.wait_for(lambda: self._pending == 0, timeout)
        self._executor.shutdown(wait=done, cancel_futures=not done)
        return done
