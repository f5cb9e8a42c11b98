"""Detection quality on the generator's runs, read through the real client and local PostHog:
false alerts on stable-but-noisy runs, and every planted change caught."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from bot.domain.compare import diff_runs
from bot.domain.rules import AlertKind, Thresholds, evaluate_rules
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from sandbox.generator import Change, SeriesSpec, World, generate
from sandbox.posthog_server import LocalPostHog
from tests.conftest import NOW

SEEDS = range(20)
KIND = {
    Change.COST_SPIKE: AlertKind.COST_SPIKE,
    Change.ERROR_HEAVY: AlertKind.ERROR_HEAVY,
    Change.SIZE_SHIFT: AlertKind.SIZE_SHIFT,
    Change.NEW_CLUSTER: AlertKind.NEW_CLUSTER,
    Change.VANISHED_CLUSTER: AlertKind.VANISHED_CLUSTER,
}


@pytest.fixture(scope="module")
def posthog() -> Iterator[LocalPostHog]:
    with LocalPostHog() as server:
        yield server


def load_alerts(posthog: LocalPostHog, world: World, run_id: str) -> list:
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": "Bearer phx_sandbox"}
    ) as http:
        client = PostHogClient(http, 1, budget=QueryBudget(10_000))
        current = client.get_run(run_id)
        previous = client.previous_run(current)
        assert previous is not None
        diff = diff_runs(previous, current)
        return list(evaluate_rules(diff, Thresholds()).alerts)


def world_for(seed: int, planted: dict | None = None) -> World:
    return generate(
        seed=seed,
        series=[SeriesSpec(level="trace", job_name="Default - traces")],
        runs=2,
        items_per_run=1000,
        now=NOW,
        planted=planted,
    )


def test_stable_noisy_runs_give_at_most_one_false_alert_in_twenty(posthog: LocalPostHog) -> None:
    false_alerts: Counter[str] = Counter()
    for seed in SEEDS:
        posthog.reset()
        world = world_for(seed)
        posthog.insert_events(world.events)
        for alert in load_alerts(posthog, world, world.runs[-1].run_id):
            false_alerts[alert.kind.value] += 1
    print(f"false alerts over {len(SEEDS)} stable run pairs: {dict(false_alerts)}")
    assert sum(false_alerts.values()) <= 1


@pytest.mark.parametrize("change", list(KIND))
def test_every_planted_change_is_caught_on_every_seed(
    posthog: LocalPostHog, change: Change
) -> None:
    missed = []
    for seed in SEEDS:
        posthog.reset()
        world = world_for(seed, {("Default - traces", 1): change})
        posthog.insert_events(world.events)
        planted = world.planted[0]
        alerts = load_alerts(posthog, world, planted.run_id)
        wanted = (
            planted.cluster_id if planted.cluster_id is not None else planted.previous_cluster_id
        )
        hit = [
            a
            for a in alerts
            if a.kind is KIND[change]
            and (a.cluster_id if planted.cluster_id is not None else a.previous_cluster_id)
            == wanted
        ]
        if not hit:
            missed.append((seed, [(a.kind.value, a.cluster_id) for a in alerts]))
    assert missed == []
