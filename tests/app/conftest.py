from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from standins.slack.server import Message
from standins.stack import Stack
from standins.traffic.generator import Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.clock import NOW

# Delivery tests plant changes too big to miss on the first run that holds them; how
# well ordinary ones are caught is measured by `make bench` (bench/quality.py).
STRONG = 2.0

USER_IDS = itertools.count()  # a fresh user per question: answers never get mixed up

SERIES = [
    SeriesSpec(level="trace", job_name="Default - traces"),
    SeriesSpec(level="trace", job_name="Checkout assistant"),
    SeriesSpec(level="generation", job_name="Default - generations"),
]


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=11,
        series=SERIES,
        runs=3,
        items_per_run=400,
        now=NOW,
        embedded_metrics="mixed",
        planted={("Default - traces", 2): Plant(Change.COST_SPIKE, scale=STRONG)},
    )


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("bot") / "bot.db"
    # Every question here really asks PostHog (outage tests rely on it): no run-list reuse.
    with Stack(
        database_url=f"sqlite:///{db}", extra_settings={"run_list_cache_seconds": 0}
    ) as running:
        worlds.load(running.posthog, world)
        yield running


@pytest.fixture(autouse=True)
def clean_faults(stack: Stack) -> Iterator[None]:
    stack.posthog.faults.clear()
    stack.slack.faults.clear()
    yield
    stack.posthog.faults.clear()
    stack.slack.faults.clear()


def replies_for(stack: Stack, channel: str, user: str) -> Callable[[], list[Message]]:
    return lambda: [m for m in stack.slack.messages(channel) if m.ephemeral_for == user]


@pytest.fixture
def ask(stack: Stack) -> Callable[..., Message]:
    """Type `/clusters <text>` as a fresh user and wait for the bot's answer."""

    def _ask(text: str, *, channel: str = "C0GENERAL", timeout: float = 20.0) -> Message:
        user_id = f"U0T{next(USER_IDS):05d}"
        user = stack.user(user_id)
        response = user.command(text, channel=channel)
        assert response.status_code == 200, response.text
        found = replies_for(stack, channel, user_id)
        assert stack.slack.wait_for(lambda: bool(found()), timeout), f"no answer to {text!r}"
        return found()[-1]

    return _ask


def tmp_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"
