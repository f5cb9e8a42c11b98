"""Graceful stop on SIGTERM (every deploy and daily restart on Procfile platforms) and SIGINT.

The signal interrupts the main thread's wait; the command then stops taking new work, gives
running work a few seconds (the outbox drain first: the message in flight is waited for),
releases the series leases this process holds (another scheduler may take them at once instead
of after the lease's ten minutes) and its outbox claims (the next drain anywhere looks those
messages up in Slack at once; one still in flight keeps its claim until its lease runs out),
and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from types import FrameType

from bot.wiring import Services

logger = logging.getLogger(__name__)

GRACE_SECONDS = 8.0  # platforms send SIGKILL 10 s (Heroku) to 30 s after SIGTERM


class Stopping(SystemExit):
    """SIGTERM or SIGINT arrived: stop taking work, clean up, exit 0.

    A `SystemExit`, so that nothing the main thread runs swallows it: waitress's loop hands
    any other exception raised in a channel's handler to `handle_error`, which logs it and
    carries on serving (its `run()` returns on `SystemExit`, closing the server)."""


def raise_on_signals() -> None:
    """Make SIGTERM and SIGINT raise `Stopping` in the main thread, once; a second signal
    during the clean-up is ignored so the clean-up completes."""

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        logger.info("process.stopping", extra={"signal": signal.Signals(signum).name})
        raise Stopping

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def stop_work(services: Services, *, grace: float = GRACE_SECONDS) -> int:
    """Stop outbox delivery, the alert cycle and the work pool within `grace` seconds and
    release this process's series leases and outbox claims (another process looks those
    messages up at once). Returns the exit code (0); if work is still running after `grace`,
    the process exits here, because Python would otherwise wait for those threads."""
    deadline = time.monotonic() + grace
    # First, so that neither the cycle nor the retry job starts another send meanwhile.
    delivery = services.notifier.stop(timeout=grace)
    cycle_done = services.alerts.stop(timeout=max(0.0, deadline - time.monotonic()))
    work_done = services.work.close(timeout=max(0.0, deadline - time.monotonic()))
    released = services.store.release_series_of(services.alerts.owner)
    logger.info(
        "process.stopped",
        extra={
            "delivery_finished": delivery.finished,
            "cycle_finished": cycle_done,
            "work_finished": work_done,
            "leases": released,
            "outbox_claims": delivery.released,
        },
    )
    if not (delivery.finished and cycle_done and work_done):
        logging.shutdown()
        os._exit(0)
    return 0
