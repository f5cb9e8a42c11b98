"""Loaded by every Python process of `make test-calendar` (its PYTHONPATH names this folder):
`time.sleep` that works under libfaketime with `FAKETIME_DONT_FAKE_MONOTONIC=1`.

Python 3.11+ sleeps with `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...)`, and
libfaketime 0.9.10 (Debian 12) shifts that absolute deadline by its offset although the monotonic
clock is not faked: the call fails with EINVAL. A wait on a lock keeps the monotonic clock and the
same length; it is still interrupted by signals, as `time.sleep` is. Outside faketime, nothing
changes.
"""

from __future__ import annotations

import os
import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    lock = threading.Lock()
    lock.acquire()
    lock.acquire(timeout=seconds)


if "faketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME"):
    time.sleep = _sleep
