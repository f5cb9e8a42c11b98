"""A world of three series with a planted error-heavy change each, loaded into the stand-ins:
what the alert-cycle, scheduler, CLI, operations and chart tests run against. Made once per test
process for each `seed` and `now` (tests/support/worlds.py): tests must not change it."""

from __future__ import annotations

from datetime import datetime

from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.clock import NOW

# Delivery tests plant changes too big to miss on the first run that holds them; how
# well ordinary ones are caught is measured by `make bench` (bench/quality.py).
STRONG = 2.0

PLANTED = {
    ("Default - traces", 3): Plant(Change.ERROR_HEAVY, scale=STRONG),
    ("Checkout assistant", 3): Plant(Change.ERROR_HEAVY, scale=STRONG),
    ("Default - generations", 3): Plant(Change.ERROR_HEAVY, scale=STRONG),
}


def make_world(seed: int = 3, now: datetime = NOW) -> World:
    return worlds.generate(
        seed=seed,
        series=[
            SeriesSpec(level="trace", job_name="Default - traces"),
            SeriesSpec(level="trace", job_name="Checkout assistant"),
            SeriesSpec(level="generation", job_name="Default - generations"),
        ],
        runs=4,
        items_per_run=1500,
        now=now,
        planted=PLANTED,
    )


def load(stack: Stack, world: World) -> None:
    worlds.load(stack.posthog, world)


def parents(stack: Stack) -> list[Message]:
    return [m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]
