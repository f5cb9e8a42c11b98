"""`python -m bot sandbox` in a subprocess, as the sandbox page tests and the browser test
drive it (chdb opens one database path per process, so the sandbox never shares the test's)."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
GUARD = 90.0
"""Seconds a request to the sandbox may take before the test gives up on it: a guard against a
hung sandbox, not a timing ("next run" builds and loads a day of events, which took over 20 s
on a loaded 2-core machine in CI on 2026-12-07)."""
T = TypeVar("T")


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str
    state_dir: Path
    lines: queue.Queue[str]

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=GUARD)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=headers, timeout=GUARD)

    def messages(self, channel: str) -> list[dict[str, str]]:
        response = self.get("/api/messages", channel=channel)
        response.raise_for_status()
        return list(response.json()["messages"])

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def start_sandbox(state_dir: Path, *args: str) -> Running:
    command = [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--dir", str(state_dir)]
    process = subprocess.Popen(
        [*command, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=open(state_dir.parent / f"{state_dir.name}.stderr", "a"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "CHARTS": "on"},  # as a user runs it
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith("Sandbox: http://"):
            return Running(process, line.split(" ", 1)[1].strip(), state_dir, lines)
    process.kill()
    raise AssertionError(f"the sandbox did not start (exit {process.poll()})")


def wait_until(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "") -> T:
    """`probe()` once it is truthy. The sandbox is another process whose first cycle also
    assigns unsampled items and checks for early warnings: on a loaded machine (the calendar
    tier under faketime, beside another worker) that took over 20 s, so the wait is generous;
    it returns as soon as the probe holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or probe}")


def cycled_since(database: Path, moment: datetime) -> bool:
    """Whether the sandbox's bot finished an alert cycle after `moment` (its heartbeat)."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT at FROM heartbeats WHERE name = 'scheduler'").fetchone()
    if row is None:
        return False
    at = datetime.fromisoformat(str(row[0]))
    return (at if at.tzinfo else at.replace(tzinfo=UTC)) > moment


def alerts(running: Running) -> list[dict[str, str]]:
    return [m for m in running.messages("C0ALERTS") if "what changed" in m["html"]]
