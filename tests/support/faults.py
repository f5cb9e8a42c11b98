"""The fault matrix: one failure injected into the stand-ins per test, then two checks: what the
user (or the operator) sees, and that every alert reaches Slack exactly once (parents and thread
replies in the fake Slack against the outbox rows, key by key).

Shared helpers for tests/faults; each fault group has its own module there.
"""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot import wiring
from bot.slack.notifier import NOTICE_EVENT
from bot.store.store import Store
from bot.wiring import Services, build_services
from standins.slack.server import FakeSlack, Message
from standins.stack import ALERT_CHANNEL, API_KEY, BOT_TOKEN, Stack
from standins.traffic.generator import Change, Plant, SeriesSpec, World, generate
from tests.support import worlds
from tests.support.alerting import STRONG
from tests.support.cli import run_cli

SERIES = [
    SeriesSpec(level="trace", job_name="Default - traces"),
    SeriesSpec(level="trace", job_name="Checkout assistant"),
    SeriesSpec(level="generation", job_name="Default - generations"),
]
RUNS = 2
PLANTED = {
    ("Default - traces", RUNS - 1): Plant(Change.COST_SPIKE, scale=STRONG),
    ("Checkout assistant", RUNS - 1): Plant(Change.VANISHED_CLUSTER, scale=STRONG),
    ("Default - generations", RUNS - 1): Plant(Change.ERROR_HEAVY, scale=STRONG),
}
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_stack(**options: Any) -> Iterator[Stack]:
    """`Stack(**options)`, started, and stopped afterwards."""
    stack = Stack(**options).start()
    try:
        yield stack
    finally:
        stack.stop()


_WORLDS: dict[tuple[int, tuple[str, ...]], World] = {}


def make_world(*, seed: int = 5, series: list[SeriesSpec] | None = None) -> World:
    """Three series, two runs each, a planted change in each newest run. `now` is the real
    clock, so the bot's look-back windows (relative to the real clock) always find the runs.

    Made once per test process for equal arguments (generating one costs over a second, and
    loading a world the process has loaded before is a copy inside chdb, tests/support/worlds.py):
    the fault modules share it, and must not change it. Its `now` is the first call's."""
    chosen = series or SERIES
    key = (seed, tuple(spec.job_name for spec in chosen))
    world = _WORLDS.get(key)
    if world is None:
        names = {spec.job_name for spec in chosen}
        world = _WORLDS[key] = generate(
            seed=seed,
            series=chosen,
            runs=RUNS,
            items_per_run=1500,  # PostHog's sample: fresh slices big enough to see each change
            now=datetime.now(UTC),
            planted={key: change for key, change in PLANTED.items() if key[0] in names},
        )
    return world


def load(stack: Stack, world: World) -> None:
    worlds.load(stack.posthog, world)


def parents(slack: FakeSlack, channel: str = ALERT_CHANNEL) -> list[Message]:
    return [m for m in slack.messages(channel) if not m.ephemeral_for]


def is_notice(message: Message) -> bool:
    return (message.metadata or {}).get("event_type") == NOTICE_EVENT


def key_of(message: Message) -> str | None:
    payload = (message.metadata or {}).get("event_payload") or {}
    key = payload.get("key")
    return str(key) if key is not None else None


def assert_exactly_once(
    slack: FakeSlack, store: Store, channel: str = ALERT_CHANNEL, *, runs: int | None = None
) -> None:
    """Every outbox row of `channel` is sent, and Slack holds each one exactly once, replies in
    their parent's thread. `runs`: how many parent messages there must be.

    Thread replies without an outbox key are the charts service's uploads and notes, a
    courtesy outside the exactly-once path (bot/services/charts.py); they are not counted."""
    rows = store.outbox(channel)
    assert rows, "nothing was stored for the channel"
    assert [r for r in rows if r.status != "sent"] == [], [(r.key, r.status) for r in rows]
    # Notices about failed deliveries are a courtesy outside the outbox too (notifier.py).
    top = [m for m in parents(slack, channel) if not is_notice(m)]
    assert all(key_of(m) for m in top), "a top-level message without an outbox key"
    posted = Counter(key_of(m) for m in top)
    by_key = {row.key: row for row in rows}
    for parent in top:
        for reply in slack.thread(channel, parent.ts):
            if key_of(reply) is None:
                continue
            posted[key_of(reply)] += 1
            row = by_key.get(key_of(reply) or "")
            assert row is not None and row.parent_key == key_of(parent), "reply in wrong thread"
    duplicates = {key: n for key, n in posted.items() if n > 1}
    assert not duplicates, f"posted more than once: {duplicates}"
    assert set(posted) == set(by_key), (
        f"lost: {set(by_key) - set(posted)}; unknown: {set(posted) - set(by_key)}"
    )
    for parent in top:
        assert by_key[key_of(parent) or ""].ts == parent.ts
    if runs is not None:
        assert len(top) == runs, [key_of(m) for m in top]
        assert len([r for r in rows if r.parent_key is None]) == runs


def check_env(stack: Stack, database_url: str, home: Path) -> dict[str, str]:
    """The environment of a real `python -m bot check` against this stack's stand-ins."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "POSTHOG_HOST": stack.posthog.url,
        "POSTHOG_PROJECT_ID": "1",
        "POSTHOG_API_KEY": API_KEY,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": stack.slack.api_url,
        "ALERT_CHANNEL": ALERT_CHANNEL,
        "DATABASE_URL": database_url,
    }


# A check without trend charts and early warnings: charts are a courtesy outside the
# exactly-once path (`assert_exactly_once` does not count them) and these worlds give no early
# warnings, yet each costs seconds per check (matplotlib; the early-warning queries). For tests
# of the delivery and the state store, not of charts or early warnings.
QUIET = {"CHARTS": "false", "EARLY_WARNING_INTERVAL": "off"}


def start_check(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def run_check(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`clusters-bot check` run to its end, in this process (tests/support/cli.py); a check to
    kill mid-way is a process of its own (`start_check`). `timeout` is kept for callers.

    The check keeps no pace with Slack (about a second between two posts to a channel in
    production, `build_services`' `min_post_interval`): the fake Slack needs none, and the
    tests here are about what is sent, not how fast (the pacing has tests of its own, in
    tests/slack). Six alerts to one channel would otherwise sleep five seconds per check."""
    del timeout
    with _unpaced():
        return run_cli(["check", *args], env=env, cwd=cwd)


@contextmanager
def _unpaced() -> Iterator[None]:
    original = wiring.build_services
    wiring.build_services = functools.partial(original, min_post_interval=0.0)  # type: ignore[assignment]
    try:
        yield
    finally:
        wiring.build_services = original  # type: ignore[assignment]


_bots = itertools.count(1)


@dataclass
class Bot:
    """A fresh bot (own database, own alert channel) on a shared stack's stand-ins, so tests
    can share one loaded local PostHog and fake Slack without seeing each other's state."""

    stack: Stack
    services: Services
    channel: str

    @property
    def slack(self) -> FakeSlack:
        return self.stack.slack

    @property
    def store(self) -> Store:
        return self.services.store

    def cycle(self) -> Any:
        return self.services.alerts.run_cycle()

    def drain(self, times: int = 5) -> list[Any]:
        """Run the outbox drain until nothing is left to retry (at most `times`)."""
        reports = []
        for _ in range(times):
            report = self.services.notifier.deliver()
            reports.append(report)
            if not report.retrying and not self.store.deliverable():
                break
        return reports

    def exactly_once(self, runs: int | None = None) -> None:
        assert_exactly_once(self.slack, self.store, self.channel, runs=runs)

    def parents(self) -> list[Message]:
        return parents(self.slack, self.channel)

    def close(self) -> None:
        self.services.close()


def new_bot(
    stack: Stack,
    tmp_path: Path,
    *,
    on_posthog_request: Callable[[httpx.Request], None] | None = None,
    **settings: Any,
) -> Bot:
    """A bot with its own SQLite file and alert channel; `settings` override the stack's.
    `on_posthog_request` sees (and may set the timeout of) each request to the local PostHog
    before it is sent."""
    n = next(_bots)
    channel = settings.pop("alert_channel", None) or stack.slack.create_channel(
        f"alerts-{n}", id=f"C0FLT{n:04d}"
    )
    configured = stack.settings(
        database_url=f"sqlite:///{tmp_path / f'bot{n}.db'}", alert_channel=channel, **settings
    )
    http = None
    if on_posthog_request is not None:
        http = wiring.posthog_http(configured)
        http.event_hooks = {"request": [on_posthog_request]}
    services = build_services(configured, http=http, min_post_interval=0.0)
    return Bot(stack, services, channel)


def reset_stand_ins(stack: Stack) -> None:
    """Forget faults and recorded requests (the data stays)."""
    stack.posthog.faults.clear()
    stack.slack.faults.clear()
    stack.posthog.requests.clear()
    stack.posthog.hogql_log.clear()
