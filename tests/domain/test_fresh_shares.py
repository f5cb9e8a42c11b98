"""Shares judged as a composition, stopped traffic told from a quiet afternoon, a change that
starts late in the day: on literal daily runs (tests/support/daily_runs.py)."""

from __future__ import annotations

from bot.domain.alerts import AlertKind
from bot.domain.compare import diff_runs
from bot.domain.fresh import Detection, detect
from bot.domain.slices import slice_run
from bot.domain.thresholds import Thresholds
from tests.support.daily_runs import Topic, day_runs

DAYS = 6  # older days of the window


def steady(key: str, per_day: int, **extra: object) -> Topic:
    return Topic(key, DAYS * per_day, per_day, **extra)  # type: ignore[arg-type]


STABLE = [
    steady("billing", 30),
    steady("support", 25),
    steady("search", 20),
    steady("emails", 25),
    steady("docs", 20),
    steady("noise", 12),
]


def detected(*topics: Topic, seed: int = 0, stable: list[Topic] = STABLE) -> Detection:
    previous, current = day_runs([*topics, *stable], seed=seed)
    return detect(slice_run(diff_runs(previous, current)), Thresholds())


def reported(detection: Detection) -> set[tuple[AlertKind, str]]:
    return {(a.kind, a.title) for a in detection.alerts}


def test_a_surge_and_new_traffic_report_the_movers_and_no_stable_cluster() -> None:
    # One day: SQL triples to a quarter of the day and a new topic takes 15 %; every other
    # cluster's share of the day falls by a third, though its own traffic did not change, and
    # the email cluster's sample drew 1.6 sigma low on top (16.8 % of the older items, 8.3 % of
    # the fresh ones: a share test against its own past reported it).
    sql = Topic("sql", DAYS * 17, 51)
    new = Topic("images", 0, 30, in_previous=False)
    stable = [t if t.key != "emails" else Topic("emails", DAYS * 25, 17) for t in STABLE]
    for seed in range(5):
        detection = detected(sql, new, seed=seed, stable=stable)

        assert reported(detection) == {
            (AlertKind.SIZE_SHIFT, "sql"),
            (AlertKind.NEW_CLUSTER, "images"),
        }, seed
        (shift,) = [a for a in detection.alerts if a.kind is AlertKind.SIZE_SHIFT]
        # Against the rest of the traffic it grew about x3, whatever the others did.
        assert shift.relative is not None and 2.2 < shift.relative < 4, seed


def test_a_stable_day_among_stable_days_reports_nothing() -> None:
    for seed in range(5):
        assert detected(steady("sql", 17), seed=seed).alerts == (), seed


def test_a_quiet_afternoon_is_not_traffic_stopped() -> None:
    # 9 fresh items where about 15 were due, all in the first 11 hours of the day.
    triage = Topic("triage", DAYS * 15, 9, fresh_hours=(0.02, 0.45))
    for seed in range(5):
        assert AlertKind.TRAFFIC_STOPPED not in {a.kind for a in detected(triage).alerts}, seed


def test_traffic_that_stops_for_the_whole_day_says_so() -> None:
    (alert,) = detected(Topic("triage", DAYS * 15, 0)).alerts

    assert (alert.kind, alert.direction, alert.after) == (AlertKind.TRAFFIC_STOPPED, -1, 0.0)
    assert alert.window == "over the whole day"


def test_a_smaller_cluster_with_no_item_all_day_is_judged_with_the_stop_s_weight() -> None:
    # 9 items a day, none today: the fall look alone (the smaller weight) left it unreported.
    for seed in range(5):
        (alert,) = detected(Topic("triage", DAYS * 9, 0), seed=seed).alerts
        assert (alert.kind, alert.items_after, alert.window) == (
            AlertKind.TRAFFIC_STOPPED, 0, "over the whole day"
        ), seed  # fmt: skip


def test_traffic_that_stops_at_midday_says_since_when() -> None:
    # A normal morning (12 items in the first 40 % of the day), then nothing at all.
    (alert,) = detected(Topic("triage", DAYS * 30, 12, fresh_hours=(0.02, 0.4))).alerts

    assert alert.kind is AlertKind.TRAFFIC_STOPPED
    assert alert.since is not None and alert.window == f"since {alert.since:%H:%M} UTC"
    assert alert.items_after == 0


def test_traffic_that_surges_late_in_the_day_is_found_after_a_cut_point() -> None:
    reports = Topic("reports", DAYS * 20, 20, late=15)

    (alert,) = detected(reports).alerts

    assert (alert.kind, alert.direction) == (AlertKind.SIZE_SHIFT, 1)
    assert alert.window == "since 18:15 UTC"


def test_a_cluster_that_shrinks_against_the_rest_is_reported_as_a_fall() -> None:
    (alert,) = detected(Topic("sql", DAYS * 40, 10)).alerts

    assert (alert.kind, alert.direction) == (AlertKind.SIZE_SHIFT, -1)
    assert alert.relative is not None and alert.relative < 0.4
    assert alert.window == "over the whole day"
