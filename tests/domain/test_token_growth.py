"""Token growth, the kind added through the kinds table alone: prompt bloat planted by the
traffic generator is found on the first run that contains it, on its own cluster, also where
the models carry no price; stable traffic raises nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.alerts import Alert, AlertKind, Family, Severity
from bot.domain.compare import diff_runs
from bot.domain.fresh import holds
from bot.domain.models import ClusteringRun
from bot.domain.run_view import RunView
from bot.domain.thresholds import Thresholds
from bot.rendering.alert_words import describe
from standins.traffic.demo_check import as_loaded
from standins.traffic.generator import Cause, Change, Plant, SeriesSpec, World
from tests.support.worlds import generate

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)  # a fixed date: nothing here reads the clock
JOB = "Token growth"
PLANTED_AT = 1


def world(seed: int, *, bloat: bool) -> World:
    planted = {(JOB, PLANTED_AT): Plant(Change.COST_SPIKE, 1.0, Cause.PROMPT_BLOAT)}
    return generate(
        seed=7000 + seed,
        series=[SeriesSpec(level="trace", job_name=JOB, topics=8)],
        runs=3,
        items_per_run=1500,
        now=NOW,
        planted=planted if bloat else {},
        events=False,
    )


def runs(w: World, *, priced: bool = True) -> list[ClusteringRun]:
    values: dict[str, dict[str, Any]] = {
        item: {**v, "cost": v["cost"] if priced else 0.0} for item, v in w.item_values.items()
    }
    return [as_loaded(t.event, values) for t in w.runs]


def alerts_of(run_list: list[ClusteringRun], index: int) -> tuple[Alert, ...]:
    view = RunView.of(diff_runs(run_list[index - 1], run_list[index]))
    return view.detect(Thresholds()).alerts


def test_prompt_bloat_is_token_growth_on_its_own_cluster() -> None:
    first_run = 0
    for seed in range(6):
        w, run_list = world(seed, bloat=True), runs(world(seed, bloat=True))
        for index in range(PLANTED_AT, len(run_list)):
            bloated = w.runs[index].cluster_of_topic(w.planted[0].topic)
            alerts = alerts_of(run_list, index)
            grown = [a for a in alerts if a.kind is AlertKind.TOKEN_GROWTH]
            costly = [a for a in alerts if a.kind is AlertKind.COST_SPIKE]
            # Nowhere else; and wherever the cost alert sees the bloat, so does this one.
            assert {a.cluster_id for a in grown} <= {bloated}, (seed, index)
            assert {a.cluster_id for a in grown} == {a.cluster_id for a in costly}, (seed, index)
            assert all(a.ratio is not None and a.ratio > 2 for a in grown), (seed, index)
            first_run += index == PLANTED_AT and len(grown) == 1
    # A bloat that starts late in the day can wait for the next run (as the cost alert does).
    assert first_run >= 4


def test_token_growth_is_seen_where_the_models_carry_no_price() -> None:
    w = world(0, bloat=True)
    bloated = w.runs[PLANTED_AT].cluster_of_topic(w.planted[0].topic)

    found = alerts_of(runs(w, priced=False), PLANTED_AT)

    assert [(a.kind, a.cluster_id) for a in found] == [(AlertKind.TOKEN_GROWTH, bloated)]


def test_stable_traffic_grows_no_tokens() -> None:
    for seed in range(3):
        run_list = runs(world(seed, bloat=False))
        for index in range(1, len(run_list)):
            assert alerts_of(run_list, index) == (), (seed, index)


def test_the_minimum_effect_reads_its_two_thresholds() -> None:
    t = Thresholds()
    assert holds(Family.TOKENS, 1, 1000, 1500, t)
    assert not holds(Family.TOKENS, 1, 1000, 1499, t)  # under x1.5
    assert not holds(Family.TOKENS, 1, 100, 290, t)  # x2.9 but under 200 tokens more
    assert holds(Family.TOKENS, 1, 100, 290, Thresholds(token_growth_min_tokens=150))


def test_token_growth_reads_as_tokens_per_item() -> None:
    alert = Alert(
        kind=AlertKind.TOKEN_GROWTH,
        severity=Severity.WARNING,
        cluster_id=3,
        previous_cluster_id=4,
        title="Support triage",
        current_run_id="r2",
        previous_run_id="r1",
        before=9946.0,
        after=31679.0,
        fresh=True,
        window="since 18:15 UTC",
    )

    assert describe(alert) == "Tokens per item ×3.2 since 18:15 UTC (median 9,946 → 31,679)"
    assert AlertKind.TOKEN_GROWTH.spec.label == "Token growth"
