"""Early warnings between daily runs: the newly summarized items of the hours since the latest
run, assigned to its clusters, tested against each cluster's items in that run and its
predecessor's others (`baselines`). Pure.

The statistics are the daily detector's (`fresh_values`): errors by Fisher's exact test, cost by
rank tests of its three parts (cost, price per token, tokens per item; Bonferroni over them),
each held to the channel's minimum effect (`fresh_base.holds`). A third test looks for a burst
of items that fit no cluster: the share of new items left unassigned against the share of the
run's held-out items left unassigned (the same assignment, so the same blind spots).

A change that starts mid-day would be averaged with the quiet hours before it, so each test
looks at the new items of the whole period and of the last `CUT_HOURS` (where they hold enough
items), and keeps its smallest p-value times the number of looks (Bonferroni). The tests of one
series are then held together under Benjamini-Hochberg at the channel's false discovery rate
divided by the day's checks, counted up to `CHECKS_COUNTED`: the same new items are looked at
again every interval, and the division keeps false warnings under one series-day in twenty.
Consecutive checks share most of their items, so hourly checks are not 24 chances for a false
warning: on the generator's quiet days (each the summarizer's real next day after a run), run
through this function at every hourly check (bench/early_quiet.py, 4,000 series-days), a
division by 24 kept 0.05 series-days in twenty with a warning, a division by 6 kept 0.33, a
division by 3 0.62, and no division 2.0. Dividing by 6 spends a third of the budget, and warns
about an hour sooner than dividing by 24.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.alerts import Alert, AlertKind, Family, Severity
from bot.domain.compare import diff_runs
from bot.domain.fresh_base import holds, positive, reaches
from bot.domain.fresh_values import (
    COST_PARTS,
    CRITICAL_COST_RATIO,
    CRITICAL_ERROR_RATE,
    parts_ratio,
    tested_parts,
    typical_cost,
)
from bot.domain.models import NOISE_CLUSTER_ID, ClusteringRun, ClusterItem
from bot.domain.slices import ClusterSlices, RunSlices
from bot.domain.stats import benjamini_hochberg, binomial_tails, count_test, rank_test_greater
from bot.domain.thresholds import Thresholds

CUT_HOURS = (3, 6, 12)
"""Besides all the new items, the items of the last 3, 6 and 12 hours are a look each."""

CHECKS_COUNTED = 6
"""The most checks of a day the false discovery rate is divided by (module doc): more frequent
checks share their items with the ones before, and do not add chances for a false warning at
the rate they add checks."""

RULE_OUT_P = 0.05
"""A warning the next daily run does not confirm is retracted only where that run's own items
since the warning's start rule it out at this level (one-sided); where they cannot, the warning
is left undecided (`rule_out`)."""

FAMILIES = {
    AlertKind.ERROR_HEAVY: Family.ERRORS,
    AlertKind.COST_SPIKE: Family.COST,
    AlertKind.OUTLIER_GROWTH: Family.OUTLIERS,
}


@dataclass(frozen=True, slots=True)
class NewItems:
    """What the hours since a run's window end hold: the assigned items by cluster (each a
    `ClusterItem` with its values, `None` where PostHog had none yet), the count of items that
    fit no cluster, and the run's held-out items and how many of them fit no cluster."""

    since: datetime
    until: datetime
    assigned: Mapping[int, Sequence[ClusterItem]]
    unassigned: int
    held_out: int
    held_out_unassigned: int

    @property
    def total(self) -> int:
        return self.unassigned + sum(len(items) for items in self.assigned.values())

    @property
    def hours(self) -> float:
        return (self.until - self.since).total_seconds() / 3600.0


@dataclass(frozen=True, slots=True)
class Finding:
    """One early warning: `kind` of cluster `cluster_id` of the run (-1: items that fit no
    cluster), from `before` (the cluster in the run) to `after` (the new items since `start`),
    on `items_before` and `items_after` items; `p_value` is corrected for the looks."""

    kind: AlertKind
    cluster_id: int
    title: str
    severity: Severity
    before: float
    after: float
    items_before: int
    items_after: int
    p_value: float
    start: datetime
    part: str | None = None

    @property
    def family(self) -> Family:
        return FAMILIES[self.kind]

    def hours(self, until: datetime) -> float:
        return (until - self.start).total_seconds() / 3600.0


def confirms(kind: AlertKind, cluster_id: int, alert: Alert) -> bool:
    """Whether the daily run's `alert` confirms an early warning of `kind` on `cluster_id` of
    the run before it: the same family on the cluster's successor; a burst of items that fit no
    cluster is confirmed by a new cluster or by more outliers."""
    if kind is AlertKind.OUTLIER_GROWTH:
        return alert.kind in (AlertKind.NEW_CLUSTER, AlertKind.OUTLIER_GROWTH)
    return alert.kind.family is FAMILIES[kind] and alert.previous_cluster_id == cluster_id


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """What a daily run that does not confirm a warning shows of it: whether its items since
    the warning's start rule the warning out (`rule_out`), and how many of them there were."""

    ruled_out: bool
    items: int


def rule_out(
    kind: AlertKind,
    before: float,
    start: datetime | None,
    cluster: ClusterSlices | None,
    t: Thresholds,
) -> Unconfirmed:
    """Whether the daily run after a warning rules it out, where its detection did not confirm
    it. The early checks test every summarized item; the run samples about six in ten of them,
    so its detection can miss a change the checks saw (bench/early.py, 2026-12-07: the six
    warnings retracted in 90 series-days were all of planted changes, their runs' samples
    holding a few of the change's items). So the run's items of the warned cluster
    (`cluster`, its successor in the run: `successor`) since the warning's `start`, sampled
    and assigned, must show the warned claim to be unlikely:

    - errors: fewer errors than a rate at the warned line would give (`before` plus the re-alert
      points, and at least the error-heavy line), one-sided binomial;
    - cost: costs lower than the cluster's baseline raised by the minimum rise, one-sided rank
      test;

    each at `RULE_OUT_P`. A burst of items that fit no cluster has no cluster to look in: a run
    that shows neither a new cluster nor more outliers rules it out. A cluster the run lost
    (no successor) rules nothing out."""
    if kind is AlertKind.OUTLIER_GROWTH:
        return Unconfirmed(True, 0)
    if cluster is None:
        return Unconfirmed(False, 0)
    recent = [
        i for i in cluster.recent if i.has_values and (start is None or _at_or_after(i, start))
    ]
    if kind is AlertKind.ERROR_HEAVY:
        errors = sum(1 for i in recent if (i.errors or 0) > 0)
        line = min(max(t.error_rate_pct / 100, before + t.error_rise_points / 100), 0.999)
        p_value = binomial_tails(errors, len(recent), line)[1] if recent else 1.0
        return Unconfirmed(p_value < RULE_OUT_P, len(recent))
    costs = positive(recent, COST_PARTS[0][1])
    rise = 1 + t.cost_spike_pct / 100
    raised = [v * rise for v in positive(cluster.baseline, COST_PARTS[0][1])]
    return Unconfirmed(rank_test_greater(raised, costs) < RULE_OUT_P, len(costs))


def successor(slices: RunSlices | None, cluster_id: int) -> ClusterSlices | None:
    """The cluster of the run matched to `cluster_id` of the run before, if any."""
    if slices is None:
        return None
    match = slices.diff.match_for_previous(cluster_id)
    return slices.clusters.get(match.current.cluster_id) if match is not None else None


def _at_or_after(item: ClusterItem, moment: datetime) -> bool:
    return item.timestamp is not None and item.timestamp >= moment


def looks(new: NewItems) -> list[datetime]:
    """The starts of the looks: the whole period, then each cut inside it."""
    cuts = [new.until - timedelta(hours=h) for h in CUT_HOURS]
    return [new.since, *(c for c in cuts if c > new.since)]


def _after(items: Sequence[ClusterItem], start: datetime, since: datetime) -> list[ClusterItem]:
    if start <= since:
        return list(items)
    return [i for i in items if i.timestamp is not None and i.timestamp >= start]


@dataclass
class _Tests:
    t: Thresholds
    new: NewItems
    found: list[tuple[Finding, float]]
    count: int = 0


def _error_test(tests: _Tests, cluster_id: int, title: str, base: Sequence[ClusterItem]) -> None:
    t, new = tests.t, tests.new
    baseline = [i for i in base if i.has_values]
    if len(baseline) < t.min_items:
        return
    base_errors = sum(1 for i in baseline if (i.errors or 0) > 0)
    before = base_errors / len(baseline)
    usable = []
    for start in looks(new):
        recent = [
            i for i in _after(new.assigned.get(cluster_id, ()), start, new.since) if i.has_values
        ]
        if len(recent) >= t.min_fresh_items:
            usable.append((start, recent))
    if not usable:
        return
    tests.count += 1
    best: tuple[float, datetime, float, int] | None = None
    for start, recent in usable:
        errors = sum(1 for i in recent if (i.errors or 0) > 0)
        after = errors / len(recent)
        if not holds(Family.ERRORS, 1, before, after, t):
            continue
        p_value = min(
            1.0, count_test(errors, len(recent), base_errors, len(baseline))[0] * len(usable)
        )
        if best is None or p_value < best[0]:
            best = (p_value, start, after, len(recent))
    if best is None:
        return
    p_value, start, after, count = best
    severity = Severity.CRITICAL if reaches(after, CRITICAL_ERROR_RATE) else Severity.WARNING
    finding = Finding(
        AlertKind.ERROR_HEAVY, cluster_id, title, severity, before, after, len(baseline), count,
        p_value, start,
    )  # fmt: skip
    tests.found.append((finding, p_value))


def _cost_test(tests: _Tests, cluster_id: int, title: str, base: Sequence[ClusterItem]) -> None:
    t, new = tests.t, tests.new
    before = typical_cost(base)
    if len(positive(base, COST_PARTS[0][1])) < t.min_items or not before:
        return
    usable = []
    for start in looks(new):
        recent = _after(new.assigned.get(cluster_id, ()), start, new.since)
        if len(positive(recent, COST_PARTS[0][1])) >= t.min_fresh_items:
            usable.append((start, recent))
    if not usable:
        return
    tests.count += 1
    best: tuple[float, datetime, float, int, str | None] | None = None
    for start, recent in usable:
        tested = tested_parts(recent, base, t)
        after = before * parts_ratio(tested)
        if not holds(Family.COST, 1, before, after, t):
            continue
        for name, (p, _) in tested.items():
            corrected = min(1.0, p * len(tested) * len(usable))
            if best is None or corrected < best[0]:
                count = len(positive(recent, COST_PARTS[0][1]))
                best = (corrected, start, after, count, name)
    if best is None:
        return
    p_value, start, after, count, part = best
    critical = reaches(after / before, CRITICAL_COST_RATIO)
    finding = Finding(
        AlertKind.COST_SPIKE, cluster_id, title,
        Severity.CRITICAL if critical else Severity.WARNING, before, after,
        len(positive(base, COST_PARTS[0][1])), count, p_value, start, part,
    )  # fmt: skip
    tests.found.append((finding, p_value))


def _burst_test(tests: _Tests) -> None:
    """More of the new items fit no cluster than of the run's own held-out items."""
    t, new = tests.t, tests.new
    total = new.total
    if new.held_out < t.min_items or total < t.min_fresh_items:
        return
    tests.count += 1
    before = new.held_out_unassigned / new.held_out
    after = new.unassigned / total
    if not holds(Family.OUTLIERS, 1, before, after, t):
        return
    p_value = count_test(new.unassigned, total, new.held_out_unassigned, new.held_out)[0]
    finding = Finding(
        AlertKind.OUTLIER_GROWTH, NOISE_CLUSTER_ID, "Items that fit no cluster", Severity.WARNING,
        before, after, new.held_out, total, p_value, new.since,
    )  # fmt: skip
    tests.found.append((finding, p_value))


def baselines(
    run: ClusteringRun, previous: ClusteringRun | None
) -> dict[int, tuple[str, tuple[ClusterItem, ...]]]:
    """What each cluster of `run` (noise apart) is tested against: its title, its items, and
    the items of its predecessor in `previous` that `run` did not sample again, where the match
    has a basis (the daily detector's lineage, `slices.slice_run`). Consecutive runs sample
    about half of each other's items, so the predecessor adds about 40 % more: a larger
    baseline lets fewer new items carry a warning (bench/early_bound.py)."""
    diff = diff_runs(previous, run) if previous is not None else None
    found = {}
    for cluster in run.clusters:
        if cluster.is_noise:
            continue
        match = diff.match_for_current(cluster.cluster_id) if diff is not None else None
        lineage = match.lineage if match is not None else ()
        found[cluster.cluster_id] = (cluster.title, tuple(cluster.items) + lineage)
    return found


def checks_counted(checks_per_day: int) -> int:
    """What each check divides the false discovery rate by: the checks of a day, counted up to
    `CHECKS_COUNTED` (module docstring)."""
    return min(max(1, checks_per_day), CHECKS_COUNTED)


def early_findings(
    baseline: Mapping[int, tuple[str, Sequence[ClusterItem]]],
    new: NewItems,
    t: Thresholds,
    *,
    division: int,
) -> list[Finding]:
    """The early warnings of one series at one check (module docstring), at the channel's
    false discovery rate divided by `division` (`checks_counted`). `baseline` maps each
    cluster of the run (noise excluded) to its title and its items in the run."""
    tests = _Tests(t, new, [])
    for cluster_id, (title, items) in sorted(baseline.items()):
        if cluster_id == NOISE_CLUSTER_ID:
            continue
        _error_test(tests, cluster_id, title, items)
        _cost_test(tests, cluster_id, title, items)
    _burst_test(tests)
    if not tests.found:
        return []
    padding = [1.0] * max(0, tests.count - len(tests.found))
    q = t.false_discovery_pct / 100 / max(1, division)
    keep = benjamini_hochberg([p for _, p in tests.found] + padding, q)
    return [finding for (finding, _), ok in zip(tests.found, keep, strict=False) if ok]
