"""Alert cycles one at a time for the sandbox: the scheduler's and the page's "check now"."""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot.services.alerts import AlertService, CycleReport

logger = logging.getLogger(__name__)


class SerialAlerts:
    """Alert cycles one at a time, for the scheduler and for "check now" alike; a check asked
    for while a cycle runs starts right after it, so a new run is never missed."""

    def __init__(self, alerts: AlertService) -> None:
        self.alerts = alerts
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="check-now", daemon=True)

    def run_cycle(self, **kwargs: Any) -> CycleReport:
        with self._lock:
            return self.alerts.run_cycle(**kwargs)

    def check_now(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        self._wanted.set()

    def _loop(self) -> None:
        while self._wanted.wait() and not self._stop.is_set():
            self._wanted.clear()
            try:
                self.run_cycle()
            except Exception:
                logger.exception("sandbox.check_now.failed")

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
