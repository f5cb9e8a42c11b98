"""Pictures end to end: alert threads carry the trend chart and the outlined map; "Map" on a
shared summary posts the run's map into its thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from standins.stack import ALERT_CHANNEL, Stack
from tests.support.alerting import load, make_world, parents


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}", extra_settings={"charts": True}
    ) as running:
        load(running, make_world())
        yield running


def pictures(stack: Stack, ts: str) -> list[str]:
    return [f.title or f.filename for m in stack.slack.thread(ALERT_CHANNEL, ts) for f in m.files]


def test_alert_threads_carry_charts_once(stack: Stack) -> None:
    stack.services.alerts.run_cycle()
    stack.services.charts.wait()  # charts follow the text, drawn on their own worker
    threads = {p.ts: pictures(stack, p.ts) for p in parents(stack)}
    assert len(threads) == 3 and all(threads.values()), threads
    for files in threads.values():
        assert all(stack.slack.files[f].content for f in stack.slack.files)  # uploaded bytes
        assert len(files) >= 1
    uploads = len(stack.slack.calls_to("files.completeUploadExternal"))
    stack.services.alerts.run_cycle()
    stack.services.charts.wait()
    assert len(stack.slack.calls_to("files.completeUploadExternal")) == uploads


def test_map_button_posts_the_map_into_the_thread(stack: Stack) -> None:
    user = stack.user("U0MAP")
    user.command("latest trace", channel=ALERT_CHANNEL)
    mine = lambda: [m for m in stack.slack.messages(ALERT_CHANNEL) if m.ephemeral_for == "U0MAP"]  # noqa: E731
    assert stack.slack.wait_for(lambda: bool(mine()), 20)
    assert user.click(mine()[-1], "clusters.share").status_code == 200
    shared = lambda: [m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]  # noqa: E731
    assert stack.slack.wait_for(lambda: bool(shared()), 20)
    summary = shared()[-1]
    assert user.click(summary, "clusters.map").status_code == 200
    assert stack.slack.wait_for(lambda: bool(pictures(stack, summary.ts)), 30)
    (name,) = pictures(stack, summary.ts)
    assert "map" in name.lower()
