"""Shares as a composition: which clusters moved against the rest of the traffic. Pure.

When one kind of traffic surges, every other cluster's share of the fresh day falls though its
own volume did not change. So a cluster is not held against its own older share but against
the rest (DESeq2's size factors, Anders & Huber 2010): per cluster the ratio of its fresh items
to its older items from the same hours of the day, and as the reference the pooled ratio of
the clusters consistent with the median of those ratios (a robust reference set, `_reference`;
with fewer than `REF_MIN_CLUSTERS` clusters of `REF_MIN_OLDER` older items, the whole run's).
Given its `n = fresh + older` items, a cluster that moved with the rest has
`fresh ~ Binomial(n, s / (1 + s))`, `s` the reference ratio.

Counts of traffic are wider than binomial: days are busier or quieter per kind of work, some
items are misplaced, and the reference is itself an estimate. The dispersion `phi` is measured
on the run's own older days with the very same procedure (each older day against the other
older days, with its own reference), and the test is beta-binomial with `phi` times the
binomial variance (plus the reference's own uncertainty, per cluster). So the false-alert rate
follows the data's day-to-day spread, not one setting.

Per cluster the looks are: growth over the whole day, after each later cut point of the scan
(a surge that starts late in the day is not averaged with the hours before it) and over the
last two days (a topic that was noise in the previous run); a fall over the whole day and over
the last two days (no item at all is traffic stopped); and a stop since the cluster's last
item. The smallest p-value over its look's weight (weighted Bonferroni, `GROWTH` ...) is the
cluster's one share test. A fall is never judged on a few hours: a quiet afternoon is not a
fall. "Traffic stopped" since the last item needs two things: the hours since then would have
held items had the cluster moved with the rest (the gap test), and its items of the day
bunching before that moment is unlikely given when the rest of the traffic came (the timing
test: (share of the rest before it)^n for n items); the larger p-value of the two counts, so
neither a quiet afternoon nor a slow day alone reads as "stopped". A cluster with no item all
day has no moment to weigh: its stop is the whole day's gap, judged by the gap test alone (the
same count as the fall over the whole day, with the stop's weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.alerts import AlertKind, Family, Severity
from bot.domain.fresh_base import Candidates, escalated, holds, reaches, weighted
from bot.domain.slices import ClusterSlices, RunSlices
from bot.domain.stats import beta_binomial_tails, dispersion, median

REF_MIN_OLDER = 10
"""Clusters with fewer older items (in the hours compared) do not vote on the reference: their
ratio is mostly sampling noise (a relative error over 30 %)."""
REF_MIN_CLUSTERS = 3
REF_SET_Z = 2.0
"""A cluster joins the reference set when its count is within this many standard errors of
the median ratio's expectation: 95 % of stable clusters do, a cluster that moved x1.5 with 30
fresh items does not."""
"""A median of fewer ratios is no robust reference; the whole run's ratio is used instead."""
MIN_EXCESS = 5.0
"""A share alert needs at least this many fresh items more (or fewer) than moving with the rest
would give. Misplaced items (up to 15 % of a cluster) come and go with the neighbours' traffic,
which the dispersion does not see at small counts: below 30 items that is under 5 items."""
NEW_CONCENTRATION = 3.0
"""New traffic: no reliable predecessor, and at least this multiple of what moving with the rest
would give (its items sit mostly in the fresh slice)."""
WARNING_SHARE_RATIO = 2.0
GROWTH, GROWTH_LATER, FALL, STOPPED = 0.25, 0.1, 0.15, 0.25
TWO_DAYS_GROWTH, TWO_DAYS_FALL = 0.1, 0.15
"""Weights of the looks (weighted Bonferroni, summing to 1): growth and fall over the whole
day, where most changes show; growth after the later cut points (shared); the stop since the
cluster's last item; and growth and fall over the last two days, where a topic that was noise
in the previous run, or traffic that dwindled over both days, has twice the items to show."""


@dataclass(frozen=True, slots=True)
class Reference:
    """The run seen from `start`: per cluster (fresh since `start`, older in the same hours),
    the reference ratio `s` and its squared relative error `spread`."""

    start: datetime
    counts: dict[int, tuple[int, int]]
    ratio: float
    spread: float
    fresh_total: int
    older_total: int


@dataclass
class Composition:
    slices: RunSlices
    phi: float = 1.0
    _refs: dict[datetime, Reference] = field(default_factory=dict)

    @classmethod
    def of(cls, slices: RunSlices) -> Composition:
        found = cls(slices)
        found.phi = found._dispersion()
        return found

    def at(self, start: datetime) -> Reference:
        if start not in self._refs:
            counts = self.slices.counts(start)
            noise = [cid for cid, cs in self.slices.clusters.items() if cs.cluster.is_noise]
            ratio, spread = _reference({c: v for c, v in counts.items() if c not in noise})
            fresh = sum(f for f, _ in counts.values())
            older = sum(o for _, o in counts.values())
            self._refs[start] = Reference(start, counts, ratio, spread, fresh, older)
        return self._refs[start]

    def _dispersion(self) -> float:
        """Each older day against the other older days, as the fresh day is tested (module
        docstring): the Pearson residuals' spread over the binomial's."""
        days = self.slices.older_days()
        real = [c for c, cs in self.slices.clusters.items() if not cs.cluster.is_noise]
        totals = {c: len(self.slices.clusters[c].older) for c in real}
        residuals = []
        for day in days:
            counts = {c: (day.get(c, 0), totals[c] - day.get(c, 0)) for c in real}
            ratio, spread = _reference(counts)
            for f, o in counts.values():
                if o >= REF_MIN_OLDER and ratio > 0:
                    residuals.append(_residual(f, o, ratio, spread))
        return dispersion(residuals)

    def tail(self, f: int, o: int, ref: Reference) -> tuple[float, float]:
        """Beta-binomial (greater, less) p-values of `f` fresh items against `o` older ones,
        with the run's dispersion plus the reference's own uncertainty."""
        p0 = ref.ratio / (1.0 + ref.ratio)
        n = f + o
        binomial = n * p0 * (1.0 - p0)
        expected = o * ref.ratio
        phi = self.phi + (expected * expected * ref.spread / binomial if binomial > 0 else 0.0)
        return beta_binomial_tails(f, n, p0, phi)


def _reference(counts: dict[int, tuple[int, int]]) -> tuple[float, float]:
    """(reference fresh/older ratio, its squared relative error). The median ratio of the
    clusters with `REF_MIN_OLDER` older items finds where the bulk of the traffic sits; the
    reference set is the clusters consistent with it (within `REF_SET_Z` binomial standard
    errors), and their pooled ratio is the reference: as robust as the median (a mover falls
    out of the set) but as precise as the pooled counts, which matters in a few quiet hours.
    Too few voters: the whole run's pooled ratio."""
    voters = [(f, o) for f, o in counts.values() if o >= REF_MIN_OLDER]
    if len(voters) < REF_MIN_CLUSTERS:
        voters = list(counts.values())
    else:
        centre = median([f / o for f, o in voters])
        voters = [v for v in voters if abs(_residual(*v, centre, 0.0)) <= REF_SET_Z] or voters
    fresh = sum(f for f, _ in voters)
    older = sum(o for _, o in voters)
    if older == 0:
        return 0.0, 0.0
    return fresh / older, (1.0 / fresh if fresh else 1.0) + 1.0 / older


def _residual(f: int, o: int, ratio: float, spread: float) -> float:
    p0 = ratio / (1.0 + ratio)
    n = f + o
    expected = o * ratio
    variance = n * p0 * (1.0 - p0) + expected * expected * spread
    return (f - n * p0) / math.sqrt(variance) if variance > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Look:
    """One look at a cluster's share: `values` are (older share, fresh share allowing for the
    rest) for the minimum effect and the lifecycle; `shown` (older share, plain fresh share)
    for the alert's words."""

    p_value: float
    kind: AlertKind
    direction: int
    since: datetime
    values: tuple[float, float]
    items: tuple[int, int]
    shown: tuple[float, float]


def share_test(found: Candidates, cs: ClusterSlices) -> None:
    """One share test per cluster (module docstring); the noise cluster is `outlier_test`."""
    slices, t = found.slices, found.t
    if not slices.usable:
        return
    composition = found.once(Composition.of)
    cid = cs.cluster.cluster_id
    whole = composition.at(slices.cutoff)
    found.observed[(cid, Family.SHARE)] = _values(whole, cid)[1]
    found.tests += 1
    later = GROWTH_LATER / max(1, len(slices.cuts) - 1)
    looks = [
        (_growth(found, cs, composition.at(c)), GROWTH if k == 0 else later)
        for k, c in enumerate(slices.cuts)
    ]
    looks += [(_fall(found, cs, whole), FALL), (_stopped(found, cs), STOPPED)]
    if slices.two_days is not None:
        both = composition.at(slices.two_days)
        looks += [(_growth(found, cs, both), TWO_DAYS_GROWTH)]
        looks += [(_fall(found, cs, both), TWO_DAYS_FALL)]
    chosen = [(weighted(look.p_value, weight), look) for look, weight in looks if look]
    if not chosen:
        return
    p_value, best = min(chosen, key=lambda pair: pair[0])
    ratio = best.values[1] / best.values[0] if best.values[0] > 0 else math.inf
    relative = ratio if math.isfinite(ratio) else None
    if best.kind is AlertKind.NEW_CLUSTER:
        severity = escalated(reaches(best.values[1], 2 * t.new_cluster_pct / 100))
    elif best.kind is AlertKind.TRAFFIC_STOPPED:
        severity = Severity.WARNING
    else:
        severity = escalated(reaches(max(ratio, 1 / max(ratio, 1e-12)), WARNING_SHARE_RATIO))
    alert = found.alert(
        cs,
        best.kind,
        severity,
        best.shown,
        best.items,
        p_value,
        best.since,
        test="beta-binomial test against the rest of the traffic",
        direction=best.direction,
        relative=relative,
    )
    found.add(alert, p_value)


def outlier_test(found: Candidates, cs: ClusterSlices) -> None:
    """The noise cluster: a rise of its share against the rest, over the whole day."""
    slices, t = found.slices, found.t
    if not slices.usable:
        return
    whole = found.once(Composition.of).at(slices.cutoff)
    # Plain shares: a new kind of traffic lands in the noise before it is a cluster of its
    # own, so "the rest" is no steadier than the noise is; the test is still against the rest.
    before, after = _shown(whole, cs.cluster.cluster_id)
    found.observed[(cs.cluster.cluster_id, Family.OUTLIERS)] = after
    found.tests += 1
    f, o = whole.counts[cs.cluster.cluster_id]
    if not holds(Family.OUTLIERS, 1, before, after, t) or f - o * whole.ratio < MIN_EXCESS:
        return
    greater, _ = found.once(Composition.of).tail(f, o, whole)
    severity = escalated(reaches(after - before, 2 * t.outlier_growth_points / 100))
    alert = found.alert(
        cs,
        AlertKind.OUTLIER_GROWTH,
        severity,
        (before, after),
        (o, f),
        greater,
        slices.cutoff,
        test="beta-binomial test against the rest of the traffic",
    )
    found.add(alert, greater)


def _values(ref: Reference, cid: int) -> tuple[float, float]:
    """(share of the older items, share of the fresh ones allowing for the rest): the fresh
    items over the fresh total the older items would make at the reference ratio."""
    f, o = ref.counts.get(cid, (0, 0))
    if ref.older_total == 0 or ref.ratio <= 0:
        return 0.0, 0.0
    return o / ref.older_total, f / (ref.older_total * ref.ratio)


def _shown(ref: Reference, cid: int) -> tuple[float, float]:
    """(share of the older items, plain share of the fresh ones) in the reference's hours."""
    f, o = ref.counts.get(cid, (0, 0))
    older = o / ref.older_total if ref.older_total else 0.0
    return older, (f / ref.fresh_total if ref.fresh_total else 0.0)


def _growth(found: Candidates, cs: ClusterSlices, ref: Reference) -> _Look | None:
    t, cid = found.t, cs.cluster.cluster_id
    f, o = ref.counts.get(cid, (0, 0))
    if ref.ratio <= 0 or f - o * ref.ratio < MIN_EXCESS:
        return None
    before, after = _values(ref, cid)
    new = (
        not cs.reliable_match
        and reaches(after, t.new_cluster_pct / 100)
        and reaches(f, NEW_CONCENTRATION * o * ref.ratio)
    )
    if not new and not holds(Family.SHARE, 1, before, after, t):
        return None
    kind = AlertKind.NEW_CLUSTER if new else AlertKind.SIZE_SHIFT
    p_value = found.once(Composition.of).tail(f, o, ref)[0]
    return _Look(p_value, kind, 1, ref.start, (before, after), (o, f), _shown(ref, cid))


def _fall(found: Candidates, cs: ClusterSlices, ref: Reference) -> _Look | None:
    """Fewer items than moving with the rest gives, over the whole day: no item at all is
    traffic stopped (when the cluster held `vanished_cluster_pct` of the older items)."""
    t, slices, cid = found.t, found.slices, cs.cluster.cluster_id
    f, o = ref.counts.get(cid, (0, 0))
    if ref.ratio <= 0 or o * ref.ratio - f < MIN_EXCESS:
        return None
    before, after = _values(ref, cid)
    p_value = found.once(Composition.of).tail(f, o, ref)[1]
    if f == 0:
        if not reaches(slices.share(cid, fresh=False), t.vanished_cluster_pct / 100):
            return None
        values = (slices.share(cid, fresh=False), 0.0)
        return _Look(p_value, AlertKind.TRAFFIC_STOPPED, -1, ref.start, values, (o, 0), values)
    if not holds(Family.SHARE, -1, before, after, t):
        return None
    shown = _shown(ref, cid)
    return _Look(p_value, AlertKind.SIZE_SHIFT, -1, ref.start, (before, after), (o, f), shown)


def _stopped(found: Candidates, cs: ClusterSlices) -> _Look | None:
    """No item since the cluster's last one of the day (module docstring)."""
    slices, t, cid = found.slices, found.t, cs.cluster.cluster_id
    if not reaches(slices.share(cid, fresh=False), t.vanished_cluster_pct / 100):
        return None
    stamps = [i.timestamp for i in cs.fresh if i.timestamp is not None]
    composition = found.once(Composition.of)
    if not stamps:  # no item all day: the gap is the whole day, and no timing to weigh
        whole = composition.at(slices.cutoff)
        f, o = whole.counts.get(cid, (0, 0))
        if whole.ratio <= 0 or f > 0 or o * whole.ratio < MIN_EXCESS:
            return None
        values = (slices.share(cid, fresh=False), 0.0)
        p_value = composition.tail(0, o, whole)[1]
        return _Look(p_value, AlertKind.TRAFFIC_STOPPED, -1, whole.start, values, (o, 0), values)
    gap = composition.at(max(stamps))
    f, o = gap.counts.get(cid, (0, 0))
    if gap.ratio <= 0 or f > 0 or o * gap.ratio < MIN_EXCESS:
        return None
    whole = composition.at(slices.cutoff)
    rest_before = 1.0 - gap.fresh_total / whole.fresh_total if whole.fresh_total else 1.0
    p_value = max(composition.tail(0, o, gap)[1], rest_before ** len(stamps))
    values = (slices.share(cid, fresh=False), 0.0)
    return _Look(p_value, AlertKind.TRAFFIC_STOPPED, -1, gap.start, values, (o, 0), values)
