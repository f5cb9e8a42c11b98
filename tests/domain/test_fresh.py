"""Fresh-slice detection on literal daily runs: what fires, what does not, and why."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from bot.domain.alerts import AlertKind, Family, Severity
from bot.domain.compare import diff_runs
from bot.domain.fresh import detect, holds
from bot.domain.fresh_values import LATENCY_PARTS, MIN_EXPLAINED, explained, typical, typical_cost
from bot.domain.models import ClusterItem
from bot.domain.slices import slice_run
from bot.domain.thresholds import Thresholds
from bot.rendering.alert_words import describe
from tests.support.daily_runs import Topic, day_runs

DEFAULTS = Thresholds()
STABLE = [
    Topic("billing", 260, 45),
    Topic("support", 200, 35),
    Topic("search", 180, 30),
    Topic("emails", 150, 25),
    Topic("noise", 100, 17),
]


def detected(*topics: Topic, seed: int = 0, thresholds: Thresholds = DEFAULTS):  # type: ignore[no-untyped-def]
    previous, current = day_runs([*topics, *STABLE], seed=seed)
    slices = slice_run(diff_runs(previous, current))
    return slices, detect(slices, thresholds)


def kinds(detection) -> list[tuple[AlertKind, str]]:  # type: ignore[no-untyped-def]
    return [(a.kind, a.title) for a in detection.alerts]


def test_the_fresh_slice_is_what_came_after_the_previous_window() -> None:
    slices, _ = detected(Topic("refunds", 120, 20))

    refunds = slices.clusters[0]
    assert (len(refunds.fresh), len(refunds.older)) == (20, 120)
    assert slices.fresh_total == 20 + 45 + 35 + 30 + 25 + 17
    assert slices.usable
    # The predecessor's items that this run did not sample again join the baseline: none here.
    assert refunds.baseline == refunds.older


def test_stable_traffic_raises_nothing() -> None:
    for seed in range(5):
        _, detection = detected(Topic("refunds", 120, 20), seed=seed)
        assert detection.alerts == (), seed


def test_tripled_cost_fires_on_the_first_run_that_contains_it() -> None:
    _, detection = detected(Topic("refunds", 120, 20, fresh_cost=0.03))

    (alert,) = detection.alerts
    assert (alert.kind, alert.title, alert.fresh) == (AlertKind.COST_SPIKE, "refunds", True)
    assert alert.after is not None and alert.before is not None
    assert alert.after / alert.before > 2
    # Corrected for its looks (cut points, two days, 3 parts of cost): far below BH's line.
    assert alert.test == "rank test" and alert.p_value is not None and alert.p_value < 1e-3
    # The most telling look wins, and the alert says which hours it rests on: here the last
    # two days (the 20 fresh items and the newest older day) against the days before them.
    assert alert.window in ("over the whole day", "since Jun 13 00:15 UTC")
    assert alert.items_before is not None and alert.items_after is not None
    assert alert.items_before + alert.items_after == 140 and alert.items_after >= 20
    assert alert.match_basis == "shared items"


def test_a_cost_rise_under_the_channel_minimum_effect_does_not_fire() -> None:
    strict = Thresholds(cost_spike_pct=300)

    _, detection = detected(Topic("refunds", 120, 20, fresh_cost=0.03), thresholds=strict)

    assert detection.alerts == ()


def test_errors_going_from_2_to_45_percent_fire_critical_at_once() -> None:
    _, detection = detected(Topic("refunds", 120, 22, fresh_error_rate=0.6))

    (alert,) = detection.alerts
    assert alert.kind is AlertKind.ERROR_HEAVY
    assert alert.severity is Severity.CRITICAL
    assert alert.test == "Fisher's exact test"


def test_traffic_that_stops_fires_while_its_cluster_still_holds_older_items() -> None:
    _, detection = detected(Topic("refunds", 200, 0))

    (alert,) = detection.alerts
    assert (alert.kind, alert.direction) == (AlertKind.TRAFFIC_STOPPED, -1)
    assert alert.after == 0


def test_traffic_that_grows_two_and_a_half_times_is_a_size_shift() -> None:
    _, detection = detected(Topic("refunds", 100, 45))

    (alert,) = detection.alerts
    assert (alert.kind, alert.direction) == (AlertKind.SIZE_SHIFT, 1)
    assert alert.after is not None and alert.before is not None and alert.after > alert.before


def test_a_cluster_of_mostly_fresh_items_without_a_predecessor_is_new_traffic() -> None:
    _, detection = detected(Topic("invoices", 10, 30, in_previous=False))

    (alert,) = detection.alerts
    assert alert.kind is AlertKind.NEW_CLUSTER
    assert alert.previous_cluster_id is None


def test_a_cluster_without_a_predecessor_but_with_old_items_is_not_new_traffic() -> None:
    # HDBSCAN formed a cluster from items it left in noise before: nothing new happened.
    _, detection = detected(Topic("invoices", 120, 20, in_previous=False))

    assert detection.alerts == ()


def test_a_run_whose_items_all_carry_the_window_end_has_no_fresh_slice() -> None:
    previous, current = day_runs(STABLE)
    stamped = current.model_copy(
        update={
            "clusters": tuple(
                c.model_copy(
                    update={
                        "items": tuple(replace(i, timestamp=current.window_end) for i in c.items)
                    }
                )
                for c in current.clusters
            )
        }
    )

    assert not slice_run(diff_runs(previous, stamped)).usable


def test_every_test_of_the_run_counts_towards_the_false_discovery_control() -> None:
    # A borderline rise passes alone at a lax rate, not among many tests at the default.
    lax = Thresholds(false_discovery_pct=50)
    _, alone = detected(Topic("refunds", 120, 20, fresh_cost=0.022), thresholds=lax)
    _, strict = detected(Topic("refunds", 120, 20, fresh_cost=0.022))

    assert [a.kind for a in alone.alerts] == [AlertKind.COST_SPIKE]
    # cost, latency, errors, tokens, share; outliers
    assert strict.tests == alone.tests == 5 * 5 + 1
    assert strict.alerts == ()


def test_minimum_effects_of_each_family() -> None:
    t = DEFAULTS
    assert holds(Family.COST, 1, 0.01, 0.015, t)
    assert not holds(Family.COST, 1, 0.01, 0.0149, t)
    assert not holds(Family.COST, 1, 0.00002, 0.00006, t)  # x3 but under the USD floor
    assert holds(Family.ERRORS, 1, 0.02, 0.2, t)
    assert not holds(Family.ERRORS, 1, 0.15, 0.19, t)
    assert holds(Family.SHARE, 1, 0.07, 0.16, t)
    assert holds(Family.SHARE, -1, 0.10, 0.05, t)
    assert not holds(Family.SHARE, 1, 0.10, 0.14, t)


def test_a_price_step_is_found_in_price_per_token_and_named_as_the_cause() -> None:
    # Tokens spread widely (sigma 0.8), the price per token hardly (0.2): a doubled price is
    # plain in price per token, and the cost change is estimated with the price's precision.
    for seed in range(5):
        _, detection = detected(Topic("refunds", 120, 20, priced=True, fresh_cost=0.02), seed=seed)

        (alert,) = detection.alerts
        assert (alert.kind, alert.part) == (AlertKind.COST_SPIKE, "price per token"), seed
        assert alert.ratio is not None and 1.7 < alert.ratio < 2.5, seed


def test_a_slower_model_is_found_in_latency_per_output_token_and_named_as_the_cause() -> None:
    # Answers' lengths spread widely (sigma 0.8), the time per output token hardly (0.15): a
    # model that writes at half the pace is plain in latency per output token, where latency
    # alone misses it on some seeds (4 of these 10).
    for seed in range(10):
        _, detection = detected(Topic("answers", 120, 20, streamed=True, fresh_pace=2), seed=seed)

        (alert,) = detection.alerts
        assert (alert.kind, alert.part) == (AlertKind.LATENCY_SPIKE, "latency per output token")
        assert alert.ratio is not None and 1.5 < alert.ratio < 2.5, seed
    assert describe(alert).endswith(", latency per output token rose)")


def test_stable_streamed_traffic_raises_nothing() -> None:
    for seed in range(10):
        _, detection = detected(Topic("answers", 120, 20, streamed=True), seed=seed)
        assert detection.alerts == (), seed


def test_latency_is_tested_in_parts_only_where_output_tokens_explain_it() -> None:
    streamed, _ = detected(Topic("answers", 120, 20, streamed=True))
    plain, _ = detected(Topic("refunds", 120, 20))
    rng = random.Random(3)
    unrelated = [  # output tokens that have nothing to do with the item's latency
        replace(i, output_tokens=float(round(300 * rng.lognormvariate(0.0, 0.8))))
        for i in plain.clusters[0].baseline
    ]

    assert explained(streamed.clusters[0].baseline)
    assert not explained(plain.clusters[0].baseline)  # no output tokens known
    assert not explained(unrelated)
    assert not explained(streamed.clusters[0].baseline[: MIN_EXPLAINED - 1])


def test_the_typical_value_is_the_product_of_its_parts_medians_or_else_its_own_median() -> None:
    def item(k: int, cost: float, tokens: float | None, latency: float) -> ClusterItem:
        output = None if tokens is None else tokens / 2
        return ClusterItem(item_id=str(k), trace_id=str(k), rank=0, cost=cost, tokens=tokens,
                           latency=latency, output_tokens=output)  # fmt: skip

    known = [item(1, 0.02, 100, 2.0), item(2, 0.06, 200, 3.0), item(3, 0.6, 1000, 9.0)]
    unknown = [item(k, i.cost or 0, None, i.latency or 0) for k, i in enumerate(known)]

    assert typical_cost(known) == pytest.approx(200 * 0.0003)  # median tokens x median price
    assert typical_cost(unknown) == 0.06  # no tokens: the median cost
    assert typical(known, LATENCY_PARTS) == pytest.approx(100 * 0.03)  # output x pace
    assert typical(unknown, LATENCY_PARTS) == 3.0
    assert typical([], LATENCY_PARTS) is None
