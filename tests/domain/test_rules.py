"""evaluate_rules: each rule at its threshold and just below, guards, severity, overrides."""

from __future__ import annotations

import math

import pytest

from bot.domain.alerts import Family
from bot.domain.compare import RunDiff, diff_runs
from bot.domain.models import ClusteringRun, ClusterMetrics, Level
from bot.domain.rules import (
    Alert,
    AlertKind,
    Severity,
    Thresholds,
    detect_run_to_run,
    evaluate_rules,
)
from bot.domain.stats import two_proportion_z_test
from tests.support.factories import ids, make_cluster, make_metrics, make_noise, make_run

# These run-to-run rules (the fallback for runs without a fresh slice) are pinned against the
# thresholds they were written for; `test_thresholds_defaults_*` pins the shipped defaults.
DEFAULTS = Thresholds(
    cost_spike_min_usd=0.001, size_shift_points=5, new_cluster_pct=5, vanished_cluster_pct=5
)


def matched_diff(
    before: ClusterMetrics | None,
    after: ClusterMetrics | None,
    *,
    size_before: int = 100,
    size_after: int = 100,
    total: int = 1000,
) -> RunDiff:
    """Two runs of `total` items whose cluster "Topic" (id 0, then 3) matches; a constant
    "Filler" cluster (1, then 4) and unlisted items make up the rest."""
    previous = make_run(
        make_cluster(0, title="Topic", item_ids=ids("t", 40), size=size_before, metrics=before),
        make_cluster(1, title="Filler", item_ids=ids("f", 40), size=100),
        run_id="run-1",
        total_items=total,
    )
    current = make_run(
        make_cluster(3, title="Topic", item_ids=ids("t", 40), size=size_after, metrics=after),
        make_cluster(4, title="Filler", item_ids=ids("f", 40), size=100),
        run_id="run-2",
        total_items=total,
    )
    diff = diff_runs(previous, current)
    assert diff.match_for_previous(0) is not None
    return diff


def alerts_of(diff: RunDiff, kind: AlertKind, thresholds: Thresholds = DEFAULTS) -> list[Alert]:
    return [a for a in evaluate_rules(diff, thresholds).alerts if a.kind is kind]


# --- cost spike ----------------------------------------------------------------------------


def test_cost_spike_fires_at_50pct_and_one_tenth_cent() -> None:
    diff = matched_diff(make_metrics(avg_cost=0.002), make_metrics(avg_cost=0.003))

    (alert,) = alerts_of(diff, AlertKind.COST_SPIKE)

    assert (alert.before, alert.after) == (0.002, 0.003)
    assert (alert.cluster_id, alert.previous_cluster_id) == (3, 0)
    assert (alert.items_before, alert.items_after) == (100, 100)
    assert alert.severity is Severity.WARNING
    assert alert.title == "Topic"
    assert alert.match_confidence == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(0.01, 0.01499, id="just-under-50pct"),
        pytest.param(0.001, 0.00199, id="doubled-but-under-the-usd-floor"),
        pytest.param(0.01, 0.005, id="cost-fell"),
    ],
)
def test_cost_spike_does_not_fire_below_either_threshold(before: float, after: float) -> None:
    diff = matched_diff(make_metrics(avg_cost=before), make_metrics(avg_cost=after))

    assert alerts_of(diff, AlertKind.COST_SPIKE) == []


@pytest.mark.parametrize(("items_before", "items_after"), [(9, 100), (100, 9), (None, 100)])
def test_cost_spike_needs_ten_items_with_data_in_both_runs(
    items_before: int | None, items_after: int | None
) -> None:
    diff = matched_diff(
        make_metrics(avg_cost=0.01, item_count=items_before),
        make_metrics(avg_cost=0.05, item_count=items_after),
    )

    assert alerts_of(diff, AlertKind.COST_SPIKE) == []


def test_cost_spike_fires_with_exactly_ten_items() -> None:
    diff = matched_diff(
        make_metrics(avg_cost=0.01, item_count=10), make_metrics(avg_cost=0.05, item_count=10)
    )

    assert len(alerts_of(diff, AlertKind.COST_SPIKE)) == 1


@pytest.mark.parametrize(
    ("after", "severity"), [(0.03, Severity.CRITICAL), (0.0299, Severity.WARNING)]
)
def test_cost_spike_is_critical_from_three_times_the_cost(after: float, severity: Severity) -> None:
    diff = matched_diff(make_metrics(avg_cost=0.01), make_metrics(avg_cost=after))

    (alert,) = alerts_of(diff, AlertKind.COST_SPIKE)

    assert alert.severity is severity


# --- latency spike -------------------------------------------------------------------------


def test_latency_spike_fires_at_50pct_and_half_a_second() -> None:
    diff = matched_diff(make_metrics(avg_latency=1.0), make_metrics(avg_latency=1.5))

    (alert,) = alerts_of(diff, AlertKind.LATENCY_SPIKE)

    assert alert.severity is Severity.INFO
    assert alert.ratio == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("before", "after"),
    [pytest.param(1.0, 1.49, id="under-50pct"), pytest.param(0.5, 0.99, id="under-half-second")],
)
def test_latency_spike_does_not_fire_below_either_threshold(before: float, after: float) -> None:
    diff = matched_diff(make_metrics(avg_latency=before), make_metrics(avg_latency=after))

    assert alerts_of(diff, AlertKind.LATENCY_SPIKE) == []


def test_latency_spike_is_a_warning_from_three_times_the_latency() -> None:
    diff = matched_diff(make_metrics(avg_latency=2.0), make_metrics(avg_latency=6.0))

    (alert,) = alerts_of(diff, AlertKind.LATENCY_SPIKE)

    assert alert.severity is Severity.WARNING


# --- error-heavy ---------------------------------------------------------------------------


def test_error_heavy_fires_when_newly_crossing_twenty_pct() -> None:
    diff = matched_diff(make_metrics(error_rate=0.19), make_metrics(error_rate=0.20))

    result = evaluate_rules(diff, DEFAULTS)

    (alert,) = [a for a in result.alerts if a.kind is AlertKind.ERROR_HEAVY]
    assert (alert.before, alert.after, alert.severity) == (0.19, 0.20, Severity.WARNING)
    assert result.still_error_heavy == ()


def test_error_heavy_does_not_fire_just_under_the_line() -> None:
    diff = matched_diff(make_metrics(error_rate=0.05), make_metrics(error_rate=0.1999))

    result = evaluate_rules(diff, DEFAULTS)

    assert result.alerts == () and result.still_error_heavy == ()


def test_error_heavy_staying_over_the_line_is_not_realerted_but_reported() -> None:
    diff = matched_diff(make_metrics(error_rate=0.25), make_metrics(error_rate=0.349))

    result = evaluate_rules(diff, DEFAULTS)

    assert result.alerts == ()
    assert [c.cluster_id for c in result.still_error_heavy] == [3]


def test_error_heavy_staying_over_the_line_realerts_after_rising_ten_points() -> None:
    diff = matched_diff(make_metrics(error_rate=0.25), make_metrics(error_rate=0.35))

    result = evaluate_rules(diff, DEFAULTS)

    assert [a.kind for a in result.alerts] == [AlertKind.ERROR_HEAVY]
    assert result.still_error_heavy == ()


@pytest.mark.parametrize(("rate", "severity"), [(0.5, Severity.CRITICAL), (0.49, Severity.WARNING)])
def test_error_heavy_is_critical_from_fifty_pct(rate: float, severity: Severity) -> None:
    diff = matched_diff(make_metrics(error_rate=0.01), make_metrics(error_rate=rate))

    (alert,) = alerts_of(diff, AlertKind.ERROR_HEAVY)

    assert alert.severity is severity


@pytest.mark.parametrize(("items", "fires"), [(10, True), (9, False), (None, False)])
def test_error_heavy_needs_ten_items_in_the_current_run(items: int | None, fires: bool) -> None:
    diff = matched_diff(
        make_metrics(error_rate=0.0, item_count=3),
        make_metrics(error_rate=0.6, item_count=items),
    )

    assert bool(alerts_of(diff, AlertKind.ERROR_HEAVY)) is fires


def test_error_heavy_without_a_previous_rate_is_reported_not_alerted() -> None:
    diff = matched_diff(make_metrics(error_rate=None), make_metrics(error_rate=0.4))

    result = evaluate_rules(diff, DEFAULTS)

    assert result.alerts == ()
    assert [c.cluster_id for c in result.still_error_heavy] == [3]


def test_error_heavy_new_cluster_alerts_without_a_baseline() -> None:
    previous = make_run(make_cluster(0, title="Alpha", item_ids=ids("a", 40)), run_id="run-1")
    heavy = make_cluster(
        1, title="Broken tool calls", item_ids=ids("x", 20), metrics=make_metrics(error_rate=0.3)
    )
    current = make_run(make_cluster(0, title="Alpha", item_ids=ids("a", 40)), heavy, run_id="r2")

    (alert,) = alerts_of(diff_runs(previous, current), AlertKind.ERROR_HEAVY)

    assert (alert.cluster_id, alert.previous_cluster_id) == (1, None)
    assert (alert.before, alert.after, alert.items_after) == (None, 0.3, 100)


# --- size shift ----------------------------------------------------------------------------


def test_size_shift_fires_at_five_points_when_significant() -> None:
    diff = matched_diff(make_metrics(), make_metrics(), size_before=100, size_after=150)

    (alert,) = alerts_of(diff, AlertKind.SIZE_SHIFT)

    assert alert.before == pytest.approx(0.10)
    assert alert.after == pytest.approx(0.15)
    assert (alert.items_before, alert.items_after) == (100, 150)
    assert alert.p_value is not None and alert.p_value < 0.01
    assert alert.severity is Severity.INFO


def test_size_shift_does_not_fire_under_five_points() -> None:
    diff = matched_diff(make_metrics(), make_metrics(), size_before=100, size_after=149)

    assert alerts_of(diff, AlertKind.SIZE_SHIFT) == []


def test_size_shift_fires_when_a_cluster_shrinks() -> None:
    diff = matched_diff(None, None, size_before=300, size_after=150)

    (alert,) = alerts_of(diff, AlertKind.SIZE_SHIFT)

    assert alert.change == pytest.approx(-0.15)
    assert alert.severity is Severity.WARNING


def test_size_shift_of_ten_points_in_small_runs_is_not_significant() -> None:
    diff = matched_diff(None, None, size_before=10, size_after=20, total=100)

    assert alerts_of(diff, AlertKind.SIZE_SHIFT) == []


def test_size_shift_needs_its_p_value_to_survive_the_false_discovery_control() -> None:
    # Two matched clusters, two share tests: Benjamini-Hochberg lets the smallest p through
    # when it is at most q / 2.
    diff = matched_diff(None, None, size_before=100, size_after=150)
    p_value = two_proportion_z_test(0.10, 1000, 0.15, 1000).p_value

    below = DEFAULTS.with_overrides({"false_discovery_pct": f"{p_value * 200 * 0.99!r}"})
    at_level = DEFAULTS.with_overrides({"false_discovery_pct": f"{p_value * 200 * 1.01!r}"})

    assert alerts_of(diff, AlertKind.SIZE_SHIFT, below) == []
    assert len(alerts_of(diff, AlertKind.SIZE_SHIFT, at_level)) == 1


def test_two_proportion_z_test_matches_a_known_value() -> None:
    # 0.10 vs 0.15 of 1000 each: pooled 0.125, se 0.014790, z 3.3806, p 0.000723.
    test = two_proportion_z_test(0.10, 1000, 0.15, 1000)

    assert test.z == pytest.approx(3.3806, abs=1e-4)
    assert test.p_value == pytest.approx(0.000723, abs=2e-6)
    assert two_proportion_z_test(0.0, 10, 0.0, 10).p_value == 1.0
    with pytest.raises(ValueError):
        two_proportion_z_test(0.1, 0, 0.1, 10)


# --- new and vanished ----------------------------------------------------------------------


def new_and_vanished_diff(new_size: int, gone_size: int) -> RunDiff:
    """1000-item runs sharing one stable cluster, plus a vanished and a new cluster."""
    stable = make_cluster(0, title="Stable", item_ids=ids("s", 200), size=500)
    previous = make_run(
        stable,
        make_cluster(1, title="Image captioning", item_ids=ids("g", 20), size=gone_size),
        run_id="run-1",
        total_items=1000,
    )
    current = make_run(
        stable,
        make_cluster(1, title="Invoice extraction", item_ids=ids("n", 20), size=new_size),
        run_id="run-2",
        total_items=1000,
    )
    return diff_runs(previous, current)


def test_new_cluster_fires_at_five_pct_share() -> None:
    (alert,) = alerts_of(new_and_vanished_diff(50, 10), AlertKind.NEW_CLUSTER)

    assert (alert.cluster_id, alert.previous_cluster_id, alert.title) == (
        1,
        None,
        "Invoice extraction",
    )
    assert (alert.before, alert.after, alert.items_after) == (None, 0.05, 50)
    assert alert.severity is Severity.INFO
    assert alert.key == "new_cluster:run-2:1"


def test_new_cluster_under_five_pct_does_not_fire() -> None:
    assert alerts_of(new_and_vanished_diff(49, 10), AlertKind.NEW_CLUSTER) == []


def test_vanished_cluster_fires_at_five_pct_previous_share() -> None:
    (alert,) = alerts_of(new_and_vanished_diff(10, 100), AlertKind.VANISHED_CLUSTER)

    assert (alert.cluster_id, alert.previous_cluster_id, alert.title) == (
        None,
        1,
        "Image captioning",
    )
    assert (alert.before, alert.after) == (0.1, None)
    assert alert.severity is Severity.WARNING
    assert alert.key == "vanished_cluster:run-2:1"


def test_vanished_cluster_under_five_pct_does_not_fire() -> None:
    assert alerts_of(new_and_vanished_diff(10, 49), AlertKind.VANISHED_CLUSTER) == []


def test_new_and_vanished_are_not_reported_when_runs_share_too_few_items() -> None:
    previous = make_run(
        make_cluster(0, title="RAG document retrieval", item_ids=ids("a", 100)), run_id="run-1"
    )
    current = make_run(
        make_cluster(0, title="Invoice extraction", item_ids=ids("b", 100)), run_id="run-2"
    )

    result = evaluate_rules(diff_runs(previous, current), DEFAULTS)

    assert result.alerts == ()
    relaxed = DEFAULTS.with_overrides({"min_run_overlap_pct": "0"})
    kinds = {a.kind for a in evaluate_rules(diff_runs(previous, current), relaxed).alerts}
    assert kinds == {AlertKind.NEW_CLUSTER, AlertKind.VANISHED_CLUSTER}


# --- outlier growth ------------------------------------------------------------------------


def noise_diff(noise_before: int, noise_after: int, total: int = 1500) -> RunDiff:
    def run(run_id: str, noise: int) -> ClusteringRun:
        return make_run(
            make_cluster(0, title="Alpha", item_ids=ids("a", 50), size=total - noise),
            make_noise(size=noise),
            run_id=run_id,
        )

    return diff_runs(run("run-1", noise_before), run("run-2", noise_after))


def test_outlier_growth_fires_at_ten_points() -> None:
    (alert,) = alerts_of(noise_diff(120, 270), AlertKind.OUTLIER_GROWTH)

    assert alert.before == pytest.approx(0.08)
    assert alert.after == pytest.approx(0.18)
    assert (alert.cluster_id, alert.previous_cluster_id) == (-1, -1)
    assert alert.key == "outlier_growth:run-2:-1"
    assert alert.p_value is not None and alert.p_value < 0.01


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(120, 269, id="under-ten-points"),
        pytest.param(270, 120, id="noise-shrank"),
    ],
)
def test_outlier_growth_does_not_fire_below_threshold_or_on_shrinking(
    before: int, after: int
) -> None:
    assert alerts_of(noise_diff(before, after), AlertKind.OUTLIER_GROWTH) == []


def test_outlier_growth_needs_a_noise_cluster_in_both_runs() -> None:
    previous = make_run(make_cluster(0, title="Alpha", item_ids=ids("a", 50), size=1500))
    current = make_run(
        make_cluster(0, title="Alpha", item_ids=ids("a", 50), size=1000), make_noise(size=500)
    )

    assert alerts_of(diff_runs(previous, current), AlertKind.OUTLIER_GROWTH) == []


# --- missing metrics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(None, make_metrics(avg_cost=1.0, error_rate=0.9), id="no-metrics-before"),
        pytest.param(make_metrics(avg_cost=0.01), None, id="no-metrics-after"),
        pytest.param(
            make_metrics(avg_cost=None, avg_latency=None, error_rate=None),
            make_metrics(avg_cost=None, avg_latency=None, error_rate=None),
            id="null-fields",
        ),
        pytest.param(
            make_metrics(avg_cost=0.0, avg_latency=0.0),
            make_metrics(avg_cost=1.0, avg_latency=9.0),
            id="zero-baseline",
        ),
        pytest.param(
            make_metrics(avg_cost=math.nan, error_rate=math.nan),
            make_metrics(avg_cost=math.inf, error_rate=math.nan),
            id="non-finite",
        ),
    ],
)
def test_missing_metrics_never_alert_and_never_crash(
    before: ClusterMetrics | None, after: ClusterMetrics | None
) -> None:
    result = evaluate_rules(matched_diff(before, after), DEFAULTS)

    metric_kinds = {AlertKind.COST_SPIKE, AlertKind.LATENCY_SPIKE, AlertKind.ERROR_HEAVY}
    assert not [a for a in result.alerts if a.kind in metric_kinds]


def test_unchanged_runs_raise_nothing() -> None:
    diff = matched_diff(make_metrics(), make_metrics())

    assert evaluate_rules(diff, DEFAULTS).alerts == ()


# --- severity, ordering, keys --------------------------------------------------------------


def test_severity_orders_critical_over_warning_over_info() -> None:
    assert Severity.CRITICAL > Severity.WARNING > Severity.INFO
    assert Severity.INFO < Severity.CRITICAL
    assert Severity.WARNING >= Severity.WARNING
    assert sorted([Severity.INFO, Severity.CRITICAL, Severity.WARNING], reverse=True) == [
        Severity.CRITICAL,
        Severity.WARNING,
        Severity.INFO,
    ]


def test_alerts_are_ordered_most_severe_first() -> None:
    diff = matched_diff(
        make_metrics(avg_cost=0.01, avg_latency=1.0, error_rate=0.01),
        make_metrics(avg_cost=0.05, avg_latency=2.0, error_rate=0.3),
        size_before=100,
        size_after=200,
    )

    alerts = evaluate_rules(diff, DEFAULTS).alerts

    assert [(a.kind, a.severity) for a in alerts] == [
        (AlertKind.COST_SPIKE, Severity.CRITICAL),
        (AlertKind.ERROR_HEAVY, Severity.WARNING),
        (AlertKind.SIZE_SHIFT, Severity.WARNING),
        (AlertKind.LATENCY_SPIKE, Severity.INFO),
    ]
    assert len({a.key for a in alerts}) == len(alerts)


def test_alert_key_uses_cluster_id_zero_not_the_previous_id() -> None:
    diff = matched_diff(make_metrics(avg_cost=0.01), make_metrics(avg_cost=0.05))
    (alert,) = alerts_of(diff, AlertKind.COST_SPIKE)

    zero = alert.model_copy(update={"cluster_id": 0})

    assert alert.key == "cost_spike:run-2:3"
    assert zero.key == "cost_spike:run-2:0"


# --- thresholds and overrides --------------------------------------------------------------


def test_thresholds_defaults_match_the_documented_rules() -> None:
    shipped = Thresholds()
    assert (shipped.cost_spike_pct, shipped.cost_spike_min_usd, shipped.min_items) == (
        50,
        0.0001,
        10,
    )
    assert shipped.min_fresh_items == 5
    assert (shipped.error_rate_pct, shipped.error_rise_points) == (20, 10)
    assert (shipped.size_shift_points, shipped.size_shift_pct) == (2, 50)
    assert shipped.false_discovery_pct == 5
    assert (shipped.new_cluster_pct, shipped.vanished_cluster_pct) == (3, 3)


def test_thresholds_every_field_has_a_description_and_a_range() -> None:
    for spec in DEFAULTS.describe():
        assert spec.description, spec.name
        assert spec.minimum is not None and spec.maximum is not None, spec.name
        assert spec.minimum <= spec.value <= spec.maximum


def test_overrides_apply_in_the_fields_units() -> None:
    thresholds = Thresholds().with_overrides(
        {"cost_spike_pct": "80%", "min_items": "20", "cost_spike_min_usd": "$0.01"}
    )

    assert (thresholds.cost_spike_pct, thresholds.min_items) == (80.0, 20)
    assert thresholds.cost_spike_min_usd == 0.01
    changed = {s.name for s in thresholds.describe() if s.value != s.default}
    assert changed == {"cost_spike_pct", "cost_spike_min_usd", "min_items"}


def test_overrides_keep_the_base() -> None:
    base = Thresholds().with_overrides({"min_items": "30"})

    assert base.with_overrides({"error_rate_pct": "40"}).min_items == 30
    assert base.with_overrides({}) == base


def test_overrides_change_what_fires() -> None:
    diff = matched_diff(make_metrics(avg_cost=0.01), make_metrics(avg_cost=0.016))

    assert len(alerts_of(diff, AlertKind.COST_SPIKE)) == 1
    stricter = Thresholds().with_overrides({"cost_spike_pct": "100"})
    assert alerts_of(diff, AlertKind.COST_SPIKE, stricter) == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("cost_spike_pct", "abc", "`cost_spike_pct` must be a number from 1 to 10000"),
        pytest.param("cost_spike_pct", "0", "`cost_spike_pct` must be a number from 1 to 10000"),
        pytest.param("error_rate_pct", "120", "`error_rate_pct` must be a number from 1 to 100"),
        pytest.param("min_items", "1.5", "`min_items` must be a whole number from 1 to 100000"),
        pytest.param(
            "false_discovery_pct", "nan", "`false_discovery_pct` must be a number from 0.01 to 50"
        ),
    ],
)
def test_overrides_reject_bad_values_naming_field_and_range(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ValueError, match="^" + expected.replace("(", r"\(")) as error:
        Thresholds().with_overrides({name: value})

    assert "Traceback" not in str(error.value)


def test_overrides_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as error:
        Thresholds().with_overrides({"cost_spike": "50"})

    message = str(error.value)
    assert message.startswith("Unknown threshold `cost_spike`. Valid names:")
    assert all(name in message for name in Thresholds.model_fields)


def test_thresholds_are_frozen() -> None:
    with pytest.raises(ValueError):
        DEFAULTS.min_items = 3  # type: ignore[misc]


# --- evaluations ---------------------------------------------------------------------------


def test_an_evaluation_clusters_pass_rate_drop_is_alerted() -> None:
    diff = matched_diff(make_metrics(pass_rate=0.9), make_metrics(pass_rate=0.6))

    (alert,) = alerts_of(diff, AlertKind.PASS_RATE_DROP)

    assert (alert.before, alert.after, alert.direction) == (0.9, 0.6, -1)
    assert alert.p_value is not None and alert.p_value < 1e-4
    assert alert.severity is Severity.WARNING


@pytest.mark.parametrize(
    ("before", "after", "items"),
    [
        pytest.param(0.9, 0.85, 100, id="a small drop"),
        pytest.param(0.9, 0.7, 6, id="too few evaluations"),
        pytest.param(0.6, 0.9, 100, id="a rise"),
    ],
)
def test_pass_rate_changes_that_are_not_alerted(before: float, after: float, items: int) -> None:
    diff = matched_diff(
        make_metrics(pass_rate=before, item_count=items),
        make_metrics(pass_rate=after, item_count=items),
    )

    assert alerts_of(diff, AlertKind.PASS_RATE_DROP) == []


# --- evaluations: where the failing evaluations gather -------------------------------------


def eval_diff(topic: tuple[float, float], filler: tuple[float, float], items: int = 100) -> RunDiff:
    """Two evaluation runs whose "Topic" (pass rate `topic[0]` then `topic[1]`) matches, next to
    a "Filler" cluster whose pass rate goes `filler[0]` then `filler[1]`; no n/a verdicts."""

    def run(run_id: str, first_id: int, index: int) -> ClusteringRun:
        return make_run(
            make_cluster(
                first_id,
                title="Topic",
                item_ids=ids("t", 40),
                size=items,
                metrics=make_metrics(pass_rate=topic[index], na_rate=0.0, item_count=items),
            ),
            make_cluster(
                first_id + 1,
                title="Filler",
                item_ids=ids("f", 40),
                size=items,
                metrics=make_metrics(pass_rate=filler[index], na_rate=0.0, item_count=items),
            ),
            run_id=run_id,
            level=Level.EVALUATION,
        )

    return diff_runs(run("run-1", 0, 0), run("run-2", 3, 1))


def test_a_cluster_gathering_the_failing_evaluations_is_alerted_though_its_pass_rate_holds() -> (
    None
):
    # Topic fails 10 → 15 of 100 (a 5-point drop: no pass-rate alert), while the rest of the
    # run fails less (20 → 5): Topic now holds 15 of the run's 20 failures, was 10 of 30.
    diff = eval_diff(topic=(0.9, 0.85), filler=(0.8, 0.95))

    (alert,) = alerts_of(diff, AlertKind.FAIL_SHARE_GROWTH)

    assert (alert.before, alert.after) == (pytest.approx(10 / 30), pytest.approx(15 / 20))
    assert (alert.items_before, alert.items_after) == (30, 20)
    assert (alert.cluster_id, alert.previous_cluster_id) == (3, 0)
    assert alert.severity is Severity.WARNING  # 42 points, over twice the 10-point threshold
    assert alert.p_value == pytest.approx(two_proportion_z_test(10 / 30, 30, 15 / 20, 20).p_value)
    assert alerts_of(diff, AlertKind.PASS_RATE_DROP) == []


@pytest.mark.parametrize(
    ("topic", "filler", "items"),
    [
        pytest.param((0.9, 0.88), (0.8, 0.8), 100, id="a small move"),
        pytest.param((0.9, 0.6), (0.9, 0.9), 20, id="too few failing evaluations"),
        pytest.param((0.6, 0.9), (0.8, 0.8), 100, id="a fall"),
    ],
)
def test_fail_share_changes_that_are_not_alerted(
    topic: tuple[float, float], filler: tuple[float, float], items: int
) -> None:
    diff = eval_diff(topic=topic, filler=filler, items=items)

    topic_alerts = [a for a in alerts_of(diff, AlertKind.FAIL_SHARE_GROWTH) if a.cluster_id == 3]
    assert topic_alerts == []


def test_fail_share_growth_is_judged_with_the_runs_other_share_tests() -> None:
    # Topic: 10 of 30 failures, then 11 of 16 (+35 points). Alone, p ≈ 0.02 would pass at 5 %;
    # Benjamini-Hochberg over the run's six share tests (two sizes, two pass rates, two fail
    # shares) needs p ≤ 0.05 / 6 of the smallest.
    diff = eval_diff(topic=(0.9, 0.89), filler=(0.8, 0.95))
    p_value = two_proportion_z_test(10 / 30, 30, 11 / 16, 16).p_value
    assert 0.05 / 6 < p_value < 0.05

    assert alerts_of(diff, AlertKind.FAIL_SHARE_GROWTH) == []


def test_the_lifecycle_follows_each_evaluation_clusters_fail_share() -> None:
    diff = eval_diff(topic=(0.9, 0.85), filler=(0.8, 0.95))

    observed = detect_run_to_run(diff, DEFAULTS).observed

    assert observed[(3, Family.FAIL_SHARE)] == pytest.approx(15 / 20)
    assert observed[(4, Family.FAIL_SHARE)] == pytest.approx(5 / 20)
    assert observed[(3, Family.PASS_RATE)] == pytest.approx(0.85)


def test_fail_share_growth_points_can_be_overridden_per_channel() -> None:
    diff = eval_diff(topic=(0.9, 0.85), filler=(0.8, 0.95))

    raised = DEFAULTS.with_overrides({"fail_share_growth_points": "50"})

    assert alerts_of(diff, AlertKind.FAIL_SHARE_GROWTH, raised) == []
