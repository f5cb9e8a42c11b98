"""The sandbox process stopped with SIGINT and started again on its state: a clean exit, a line
per alert on the terminal, and the same history after the restart (no repeat alerts)."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

from tests.support.sandbox_process import alerts, cycled_since, start_sandbox, wait_until


def test_sigint_stops_cleanly_and_a_restart_keeps_the_history(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_sandbox(state)
    posted = wait_until(lambda: len(alerts(first)) >= 4 and alerts(first), what="alerts")
    assert first.stop(signal.SIGINT) == 0
    assert not (state / "posthog" / "status").exists()  # chdb's lock is gone
    wait_until(lambda: "Stopped.\n" in list(first.lines.queue), 5, "the goodbye")
    terminal = list(first.lines.queue)  # a line per alert posted, no routine log lines
    assert len([line for line in terminal if "alert posted to #llm-alerts" in line]) == len(posted)
    logged = (tmp_path / "state.stderr").read_text()
    assert " INFO " not in logged and "unhandled close event" not in logged
    saved = json.loads((state / "slack.json").read_text())
    assert sum(len(c["messages"]) for c in saved["channels"]) >= 3

    restarted_at = datetime.now(UTC)
    second = start_sandbox(state)  # no --fresh: same data, same history, no repeat alerts
    try:
        started = wait_until(
            lambda: [line for line in list(second.lines.queue) if "Started in" in line], 5
        )
        assert "Reusing the data" in started[0] and "Loaded" not in started[0]
        assert [m["ts"] for m in alerts(second)] == [m["ts"] for m in posted]
        wait_until(lambda: cycled_since(state / "bot.db", restarted_at), what="an alert cycle")
        assert len(alerts(second)) == len(posted)
    finally:
        assert second.stop(signal.SIGTERM) == 0
    assert not (state / "posthog" / "status").exists()
