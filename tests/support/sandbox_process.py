"""`python -m bot sandbox` in a subprocess, as the sandbox page tests and the browser test
drive it (chdb opens one database path per process, so the sandbox never shares the test's)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str
    state_dir: Path
    lines: queue.Queue[str]

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=20)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=headers, timeout=20)

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
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
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
