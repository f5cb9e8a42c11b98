"""Cutting a run into its fresh slice and baseline, cluster by cluster, and the cut points of
the change-point scan. Pure.

The detector (`fresh.py`) tests the fresh items of each cluster after each cut point against
the baseline; this module only decides which items are which (module docstring of `fresh.py`
for why), and counts what the share tests need: each cluster's items in given hours of the
fresh slice and in the same hours of the older days.

A cluster's fresh slice may be enlarged with **assigned** items: summarized items of the fresh
period that the run did not sample, given to the cluster by their summary embedding
(`services/assignment.py`). The value tests (cost, latency, errors, tokens) read them with
the sampled ones (`ClusterSlices.since`, `recent`). The share tests do not: they count the
sampled items only (`fresh`, `counts`, `fresh_total`). The run's sample is a uniform draw of
the window's summaries, so its composition is an unbiased picture of the traffic; the
assigned items pass a filter (a clear nearest cluster, within its radius) whose pass rate
differs from cluster to cluster and is nil for the noise cluster, so counting them would move
shares by how separable a cluster is rather than by its traffic. Within a cluster the values
of the assigned items stay representative as long as which items are assigned does not
depend on them; a summary that dwells on an error may move its item's embedding, which the
held-out agreement (measured on the run's sample) would not show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.models import Cluster, ClusterItem

MIN_SLICE = 20
"""Fewer fresh (or older) items than this in the whole run and there is no slice to speak of."""
DAY_SECONDS = 86_400.0
CUTS = 4
"""Cut points of the change-point scan: the fresh slice's start and every quarter of it after
(every 6 hours of a daily run). A change that starts at a random hour is then at most 6 hours
from a cut, so at least three quarters of the items after the cut are changed ones, while the
scan costs a Bonferroni factor of 4, not the ~24 of hourly cuts: power lost to a mixed slice
falls with the mixed fraction, power lost to the correction only with log(K)."""
MIN_CUT = timedelta(hours=3)
"""No cut closer than this to the run's end: fewer hours hold too few items to test."""


@dataclass(frozen=True, slots=True)
class ClusterSlices:
    cluster: Cluster
    fresh: tuple[ClusterItem, ...]
    older: tuple[ClusterItem, ...]
    lineage: tuple[ClusterItem, ...] = ()
    match: ClusterMatch | None = None
    assigned: tuple[ClusterItem, ...] = ()  # fresh items given by embedding (module docstring)
    baseline: tuple[ClusterItem, ...] = field(init=False, repr=False, compare=False)
    """The older items and the predecessor's: one tuple, built once, so that the tests' values
    of it are read once per run (`fresh_base.positive`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", self.older + self.lineage)

    @property
    def recent(self) -> tuple[ClusterItem, ...]:
        """The fresh items, sampled and assigned: what the value tests read."""
        return self.fresh + self.assigned

    def since(self, cut: datetime) -> tuple[ClusterItem, ...]:
        """The fresh items newer than `cut`, assigned ones included (the value tests')."""
        return tuple(i for i in self.recent if _after(i, cut))

    def assigned_since(self, cut: datetime) -> int:
        """How many of `since(cut)` are assigned items with values."""
        return sum(1 for i in self.assigned if i.has_values and _after(i, cut))

    @property
    def reliable_match(self) -> bool:
        return self.match is not None and self.match.basis is not None


@dataclass(frozen=True)
class RunSlices:
    """A run cut at `cutoff` (the previous run's window end), cluster by cluster; `end` is the
    run's own window end and `cuts` the change-point scan's cut points (the first is
    `cutoff`); `two_days` reaches one slice further back, for shares that began to move
    before the previous run (a topic that was noise there, traffic that is dwindling)."""

    diff: RunDiff
    cutoff: datetime
    fresh_total: int
    older_total: int
    clusters: dict[int, ClusterSlices] = field(default_factory=dict)
    end: datetime | None = None
    cuts: tuple[datetime, ...] = ()
    two_days: datetime | None = None  # where the last two days start (the previous cutoff)
    # The run's held-out assignment agreement when assigned items were added (None: none were)
    agreement: float | None = None

    @property
    def assigned_total(self) -> int:
        """Assigned items over all clusters (not in `fresh_total`: module docstring)."""
        return sum(len(cs.assigned) for cs in self.clusters.values())

    def with_assigned(
        self, assigned: dict[int, tuple[ClusterItem, ...]], agreement: float | None
    ) -> RunSlices:
        """The same slices with `assigned` items (by cluster id) added to the fresh slices of
        their clusters; ids of no cluster of the run are left out."""
        clusters = {
            cid: replace(cs, assigned=cs.assigned + assigned.get(cid, ()))
            for cid, cs in self.clusters.items()
        }
        return replace(self, clusters=clusters, agreement=agreement)

    @property
    def usable(self) -> bool:
        """Evaluation runs stamp every item with the window end, and a run right after a long
        gap has nothing older: then there is no fresh slice, and whole runs are compared."""
        return self.fresh_total >= MIN_SLICE and self.older_total >= MIN_SLICE

    def share(self, cluster_id: int, *, fresh: bool) -> float:
        slices = self.clusters.get(cluster_id)
        total = self.fresh_total if fresh else self.older_total
        if slices is None or total == 0:
            return 0.0
        return len(slices.fresh if fresh else slices.older) / total

    @property
    def span(self) -> timedelta:
        end = self.end or self.cutoff
        return max(end - self.cutoff, timedelta(0))

    def counts(self, start: datetime) -> dict[int, tuple[int, int]]:
        """Per cluster: (its items newer than `start`, its items before then from the same
        hours of the day). When the hours cover a day or more, every item before `start`
        counts; otherwise only those whose time of day falls in the hours [start, end), so
        that traffic that follows the clock is held against like hours. A `start` before the
        cutoff (the last two days) takes the newest older items to the recent side."""
        end = self.end or self.cutoff
        hours = (end - start).total_seconds()
        found = {}
        for cid, cs in self.clusters.items():
            items = cs.fresh + cs.older if start < self.cutoff else cs.fresh
            recent = sum(1 for i in items if _after(i, start))
            before = [i for i in cs.older if not _after(i, start)]
            if hours < DAY_SECONDS:
                before = list(_same_hours(before, start, hours))
            found[cid] = (recent, len(before))
        return found

    def older_days(self) -> list[dict[int, int]]:
        """Per older day (counted back from the cutoff), each cluster's older items in it: the
        day-to-day spread the share tests are calibrated on."""
        days: dict[int, dict[int, int]] = {}
        for cid, cs in self.clusters.items():
            for item in cs.older:
                if item.timestamp is None:
                    continue
                back = int((self.cutoff - item.timestamp).total_seconds() // DAY_SECONDS)
                days.setdefault(back, {}).setdefault(cid, 0)
                days[back][cid] += 1
        return [{cid: day.get(cid, 0) for cid in self.clusters} for _, day in sorted(days.items())]


def slice_run(diff: RunDiff) -> RunSlices:
    """Split `diff.current` at the previous run's window end (module docstring), with the cut
    points of the change-point scan (`CUTS`)."""
    previous, current = diff.previous, diff.current
    cutoff = previous.window_end or previous.timestamp
    end = current.window_end or current.timestamp
    cuts = [cutoff]
    if end > cutoff:
        step = (end - cutoff) / CUTS
        cuts += [cutoff + k * step for k in range(1, CUTS) if end - (cutoff + k * step) >= MIN_CUT]
    two_days = cutoff - (end - cutoff) if end > cutoff else None
    clusters: dict[int, ClusterSlices] = {}
    fresh_total = older_total = 0
    for cluster in current.clusters:
        fresh = tuple(i for i in cluster.items if _after(i, cutoff))
        older = tuple(i for i in cluster.items if not _after(i, cutoff))
        fresh_total += len(fresh)
        older_total += len(older)
        match = None if cluster.is_noise else diff.match_for_current(cluster.cluster_id)
        lineage = tuple(i for i in match.lineage if not _after(i, cutoff)) if match else ()
        clusters[cluster.cluster_id] = ClusterSlices(cluster, fresh, older, lineage, match)
    return RunSlices(diff, cutoff, fresh_total, older_total, clusters, end, tuple(cuts), two_days)


def _same_hours(
    items: Iterable[ClusterItem], start: datetime, hours: float
) -> Iterable[ClusterItem]:
    for item in items:
        if item.timestamp is None:
            continue
        if (item.timestamp - start).total_seconds() % DAY_SECONDS < hours:
            yield item


def _after(item: ClusterItem, moment: datetime) -> bool:
    """Newer than `moment`; an item without a timestamp counts as old (reference/alerting.md)."""
    return item.timestamp is not None and item.timestamp > moment
