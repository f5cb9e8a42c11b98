"""The early-warning tests on hand-made items: what they find, what they leave alone, how the
day's checks raise the bar, and which daily alert confirms which warning."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.compare import ClusterMatch, diff_runs
from bot.domain.early import (
    CHECKS_COUNTED,
    NewItems,
    baselines,
    checks_counted,
    confirms,
    early_findings,
    looks,
    rule_out,
    successor,
)
from bot.domain.models import NOISE_CLUSTER_ID, ClusterItem
from bot.domain.slices import ClusterSlices, slice_run
from bot.domain.thresholds import Thresholds
from tests.support.factories import ids, make_alert, make_cluster, make_noise, make_run

END = datetime(2026, 6, 14, 0, 15, tzinfo=UTC)  # the run's window end
T = Thresholds()


def make_items(
    prefix: str,
    count: int,
    *,
    start: datetime,
    hours: float,
    error_rate: float = 0.02,
    cost: float = 0.01,
    seed: int = 0,
    errors: int | None = None,
) -> list[ClusterItem]:
    """`count` items spread over `hours` from `start`; errors at `error_rate`, or exactly
    `errors` of them."""
    rng = random.Random(f"{prefix}:{seed}")
    items = []
    for i in range(count):
        tokens = round(1000.0 * rng.lognormvariate(0.0, 0.8))
        items.append(
            ClusterItem(
                item_id=f"{prefix}{i}",
                trace_id=f"{prefix}{i}",
                rank=0,
                timestamp=start + timedelta(hours=rng.uniform(0, hours)),
                cost=cost / 1000.0 * rng.lognormvariate(0.0, 0.2) * tokens,
                latency=2.0,
                tokens=float(tokens),
                errors=int(i < errors) if errors is not None else int(rng.random() < error_rate),
            )
        )
    return items


def baseline(**rates: float) -> dict[int, tuple[str, list[ClusterItem]]]:
    """Clusters 0..2 of 200 older items each (2 % errors, $0.01 an item)."""
    return {
        cid: (f"topic {cid}", make_items(f"b{cid}-", 200, start=END - timedelta(days=7), hours=160))
        for cid in range(3)
    }


def new_items(
    assigned: dict[int, list[ClusterItem]],
    until: datetime,
    *,
    unassigned: int = 10,
    held_out: int = 300,
    held_out_unassigned: int = 30,
) -> NewItems:
    return NewItems(END, until, assigned, unassigned, held_out, held_out_unassigned)


def quiet_hours(until: datetime) -> dict[int, list[ClusterItem]]:
    hours = (until - END) / timedelta(hours=1)
    return {
        cid: make_items(f"q{cid}-", int(3 * hours), start=END, hours=hours, seed=7)
        for cid in range(3)
    }


def test_an_error_step_in_the_last_hours_is_found_with_the_look_it_rests_on() -> None:
    until = END + timedelta(hours=14)
    assigned = quiet_hours(until)
    step = until - timedelta(hours=4)
    before_step = [i for i in assigned[1] if i.timestamp is not None and i.timestamp < step]
    assigned[1] = before_step + make_items("s", 14, start=step, hours=4, errors=7)
    (finding,) = early_findings(baseline(), new_items(assigned, until), T, division=24)
    assert (finding.kind, finding.cluster_id) == (AlertKind.ERROR_HEAVY, 1)
    assert finding.before < 0.05 and finding.after >= 0.3
    assert finding.start >= until - timedelta(hours=6)  # a cut, not the whole period
    assert finding.items_before == 200 and finding.items_after >= 5
    assert finding.severity in (Severity.WARNING, Severity.CRITICAL)


def test_quiet_hours_find_nothing() -> None:
    until = END + timedelta(hours=14)
    found = early_findings(baseline(), new_items(quiet_hours(until), until), T, division=24)
    assert found == []


def test_a_cost_step_is_found_and_names_the_part_that_moved() -> None:
    until = END + timedelta(hours=10)
    assigned = quiet_hours(until)
    assigned[2] = make_items("c", 20, start=until - timedelta(hours=5), hours=5, cost=0.03)
    (finding,) = early_findings(baseline(), new_items(assigned, until), T, division=24)
    assert (finding.kind, finding.cluster_id) == (AlertKind.COST_SPIKE, 2)
    assert finding.after / finding.before >= 2
    assert finding.part == "price per token"


def test_a_burst_of_items_that_fit_no_cluster_is_found() -> None:
    until = END + timedelta(hours=8)
    new = new_items(quiet_hours(until), until, unassigned=60, held_out_unassigned=30)
    (finding,) = early_findings(baseline(), new, T, division=24)
    assert (finding.kind, finding.cluster_id) == (AlertKind.OUTLIER_GROWTH, NOISE_CLUSTER_ID)
    assert finding.before == pytest.approx(0.1) and finding.after > 0.2


def test_too_few_new_items_are_not_judged() -> None:
    until = END + timedelta(hours=2)
    assigned = {1: make_items("s", T.min_fresh_items - 1, start=END, hours=2, errors=4)}
    new = new_items(assigned, until, unassigned=0)
    assert early_findings(baseline(), new, T, division=1) == []


def test_a_larger_division_raises_the_bar() -> None:
    until = END + timedelta(hours=4)
    assigned = {1: make_items("s", 12, start=END, hours=4, errors=3)}
    new = new_items(assigned, until, unassigned=0)
    once = early_findings(baseline(), new, T, division=1)
    six = early_findings(baseline(), new, T, division=6)
    assert [f.kind for f in once] == [AlertKind.ERROR_HEAVY]
    assert six == []


def test_hourly_checks_count_as_six_a_day() -> None:
    """Hourly checks share most of their items: the bar is the one of `CHECKS_COUNTED` a day
    (3 errors in 8 items pass it, and would not at a division by 24)."""
    assert checks_counted(24) == checks_counted(48) == CHECKS_COUNTED == 6
    assert checks_counted(4) == 4 and checks_counted(0) == 1
    until = END + timedelta(hours=4)
    assigned = {1: make_items("s", 8, start=END, hours=4, errors=3)}
    new = new_items(assigned, until, unassigned=0)
    hourly = early_findings(baseline(), new, T, division=checks_counted(24))
    assert [f.kind for f in hourly] == [AlertKind.ERROR_HEAVY]
    assert early_findings(baseline(), new, T, division=24) == []


def test_looks_are_the_whole_period_and_the_cuts_inside_it() -> None:
    short = new_items({}, END + timedelta(hours=4))
    assert looks(short) == [END, END + timedelta(hours=1)]
    long = new_items({}, END + timedelta(hours=20))
    assert len(looks(long)) == 4 and looks(long)[0] == END


def alert(kind: AlertKind, previous_cluster_id: int | None) -> Alert:
    return make_alert(kind, cluster_id=5, previous_cluster_id=previous_cluster_id)


def test_a_warning_is_confirmed_by_the_same_family_on_the_same_cluster_only() -> None:
    assert confirms(AlertKind.ERROR_HEAVY, 3, alert(AlertKind.ERROR_HEAVY, 3))
    assert not confirms(AlertKind.ERROR_HEAVY, 3, alert(AlertKind.ERROR_HEAVY, 4))
    assert not confirms(AlertKind.ERROR_HEAVY, 3, alert(AlertKind.COST_SPIKE, 3))
    assert confirms(AlertKind.COST_SPIKE, 3, alert(AlertKind.COST_SPIKE, 3))
    assert confirms(AlertKind.OUTLIER_GROWTH, -1, alert(AlertKind.NEW_CLUSTER, None))
    assert not confirms(AlertKind.OUTLIER_GROWTH, -1, alert(AlertKind.SIZE_SHIFT, 2))


# -- settling: what a daily run that did not confirm a warning rules out ----------------------


def successor_of(warned: int, fresh: list[ClusterItem], older: list[ClusterItem]) -> ClusterSlices:
    """The run's cluster matched to cluster `warned` of the run before, with its fresh items
    (sampled; none assigned) and its older ones."""
    previous, current = make_cluster(warned), make_cluster(7)
    match = ClusterMatch(
        previous=previous,
        current=current,
        confidence=0.9,
        shared_items=40,
        overlap=0.5,
        title_similarity=1.0,
    )
    return ClusterSlices(current, tuple(fresh), tuple(older), match=match)


@pytest.mark.parametrize(
    ("count", "errors", "ruled_out"),
    [
        (40, 1, True),  # 1 error in 40: far under the 20 % line
        (
            8,
            1,
            False,
        ),  # 1 in 8: too few to tell (a 20 % rate gives 0 or 1 in 8 half the time)
        (40, 12, False),  # 12 in 40: at the line, the run's detection may have missed it
    ],
)
def test_a_run_rules_an_error_warning_out_only_on_enough_of_its_own_items(
    count: int, errors: int, ruled_out: bool
) -> None:
    older = make_items("o", 150, start=END - timedelta(days=6), hours=140, error_rate=0.02)
    fresh = make_items("f", count, start=END + timedelta(hours=1), hours=20, errors=errors)
    cluster = successor_of(3, fresh, older)
    found = rule_out(AlertKind.ERROR_HEAVY, 0.02, END, cluster, T)
    assert (found.ruled_out, found.items) == (ruled_out, count)


def test_only_the_items_since_the_warned_start_count() -> None:
    older = make_items("o", 150, start=END - timedelta(days=6), hours=140)
    quiet_morning = make_items("m", 40, start=END, hours=5, errors=0)
    afternoon = make_items("a", 6, start=END + timedelta(hours=6), hours=10, errors=2)
    cluster = successor_of(3, quiet_morning + afternoon, older)
    start = END + timedelta(hours=6)
    assert rule_out(AlertKind.ERROR_HEAVY, 0.02, END, cluster, T).ruled_out  # the whole day
    since = rule_out(AlertKind.ERROR_HEAVY, 0.02, start, cluster, T)
    assert (since.ruled_out, since.items) == (False, 6)


def test_a_run_rules_a_cost_warning_out_when_its_costs_stay_under_the_minimum_rise() -> None:
    older = make_items("o", 150, start=END - timedelta(days=6), hours=140, cost=0.01)
    same = make_items("s", 40, start=END, hours=20, cost=0.01)
    tripled = make_items("t", 40, start=END, hours=20, cost=0.03)
    few = make_items("w", 4, start=END, hours=20, cost=0.01)
    assert rule_out(AlertKind.COST_SPIKE, 0.01, END, successor_of(3, same, older), T).ruled_out
    assert not rule_out(
        AlertKind.COST_SPIKE, 0.01, END, successor_of(3, tripled, older), T
    ).ruled_out
    assert not rule_out(AlertKind.COST_SPIKE, 0.01, END, successor_of(3, few, older), T).ruled_out


def test_what_no_cluster_holds_is_ruled_out_and_a_lost_cluster_rules_nothing_out() -> None:
    assert rule_out(AlertKind.OUTLIER_GROWTH, 0.05, END, None, T).ruled_out
    assert not rule_out(AlertKind.ERROR_HEAVY, 0.02, END, None, T).ruled_out
    previous = make_run(
        make_cluster(3, item_ids=ids("s", 40) + ids("p", 20), title="Refund questions"),
        make_cluster(4, item_ids=ids("g", 50), title="SQL help"),  # gone from the run
        run_id="1_trace_20260613_001502_job-1",
        timestamp=END - timedelta(days=1),
    )
    run = make_run(make_cluster(7, item_ids=ids("s", 40) + ids("c", 20), title="Refund questions"))
    slices = slice_run(diff_runs(previous, run))
    assert successor(slices, 3) is slices.clusters[7]
    assert successor(slices, 4) is None and successor(None, 3) is None


def test_a_cluster_is_tested_against_its_items_and_its_predecessor_s_others() -> None:
    shared, before, now = ids("s", 40), ids("p", 30), ids("c", 20)
    previous = make_run(
        make_cluster(0, item_ids=shared + before, title="Refund questions"),
        make_cluster(1, item_ids=ids("q", 50), title="SQL help"),
        run_id="1_trace_20260613_001502_job-1",
        timestamp=END - timedelta(days=1),
    )
    run = make_run(
        make_cluster(4, item_ids=shared + now, title="Refund questions"),
        make_cluster(5, item_ids=ids("n", 45), title="Invoice parsing"),  # no predecessor
        make_noise(item_ids=ids("x", 10)),
    )
    found = baselines(run, previous)
    assert sorted(found) == [4, 5]  # noise apart
    title, items = found[4]
    assert title == "Refund questions"
    assert sorted(i.item_id for i in items) == sorted(shared + now + before)  # each item once
    assert [i.item_id for i in found[5][1]] == list(ids("n", 45))
    assert {cid: len(items) for cid, (_, items) in baselines(run, None).items()} == {4: 60, 5: 45}
