"""SIGTERM (every deploy and daily restart on Procfile platforms): stop taking work, release the
series leases this process holds, exit 0 within seconds."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from waitress.server import create_server

from bot.shutdown import Stopping
from bot.web import POLL
from standins.stack import Stack
from standins.traffic.generator import SeriesSpec
from tests.support import worlds
from tests.support.bolt import wait_until
from tests.support.clock import NOW

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("shutdown") / "stack.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        world = worlds.generate(seed=4, series=[SeriesSpec()], runs=2, items_per_run=200, now=NOW)
        worlds.load(running.posthog, world)
        yield running


def start(stack: Stack, command: str, database: Path, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **stack.environment(f"sqlite:///{database}", **env),
        "PYTHONPATH": str(REPO),  # this checkout's bot, not whatever is installed
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def leases(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        try:
            return connection.execute("SELECT level, job_id FROM series_leases").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []


def test_sigterm_mid_cycle_releases_the_lease_and_exits_0(stack: Stack, tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    # A slow cycle that holds its lease: every query takes 0.4 s, and a series holds its lease
    # for two or more of them (the test polls every 0.02 s); after SIGTERM the series in hand
    # is finished first, so each of its queries is waited out once more.
    stack.posthog.faults.add(200, count=10_000, delay=0.4)
    process = start(stack, "scheduler", database)
    try:
        assert wait_until(lambda: bool(leases(database)), 60), "the cycle never took a lease"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    finally:
        stack.posthog.faults.clear()
        if process.poll() is None:
            process.kill()
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert leases(database) == []
    assert "process.stopped" in output


def test_sigterm_stops_the_web_process_with_exit_0(stack: Stack, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = start(stack, "web", tmp_path / "bot.db", PORT=str(port))
    try:
        assert wait_until(lambda: _healthy(port), 60), "the web process never answered"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert "process.stopped" in output


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_stopping_raised_inside_a_waitress_handler_ends_the_server_loop() -> None:
    """The signal lands wherever the main thread is, often inside a channel's handler (a
    /healthz being answered). Waitress hands other exceptions to `handle_error` and serves on,
    so `Stopping` must be one it lets through; `run()` then returns and the command cleans up."""
    server = create_server(lambda environ, start_response: [], host="127.0.0.1", port=0, **POLL)

    def signal_arrives() -> None:
        raise Stopping

    server.trigger.handle_read = signal_arrives  # the next loop turn runs it
    server.pull_trigger()
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    loop.join(timeout=30)
    stopped = not loop.is_alive()
    if not stopped:
        server.close()
    assert stopped, "the server kept serving after Stopping"
